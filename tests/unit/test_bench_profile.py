"""The profile summary attributes each sample to the layer nearest its leaf."""

from __future__ import annotations

from pathlib import Path

from bench.profile import summarise


def test_our_code_is_its_own_layer_under_flask(tmp_path: Path) -> None:
    """py-spy names the project's files relative to the working directory; a sample in
    our code under Flask's stack is ours, not Flask's."""
    raw = tmp_path / "samples.txt"
    raw.write_text(
        "handle (gunicorn/workers/gthread.py:1);dispatch (flask/app.py:2);"
        "fast_batch_point (backend/services/tracking/trace_points.py:281) 6\n"
        "handle (gunicorn/workers/gthread.py:1);dispatch (flask/app.py:2);"
        "do_execute (sqlalchemy/engine/default.py:1192) 3\n"
        "handle (gunicorn/workers/gthread.py:1);dispatch (flask/app.py:2) 1\n"
    )
    summary = summarise(raw)
    assert "10 busy samples" in summary
    assert "60.0%  Qonys code" in summary and "30.0%  SQLAlchemy" in summary
    assert "10.0%  Flask / APIFlask / Werkzeug" in summary
