"""Pages for people in browsers: sign-in, the analyst/admin home, officers, employers."""
