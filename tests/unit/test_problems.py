from backend.errors import flatten_messages


def test_flatten_nested_marshmallow_messages() -> None:
    errors = flatten_messages(
        {"json": {"iin": ["bad"], "location": {"lat": ["too big"]}, "_schema": ["x"]}}
    )
    assert [(e.field, e.message) for e in errors] == [
        ("iin", "bad"),
        ("location.lat", "too big"),
        ("_schema", "x"),
    ]


def test_flatten_plain_string() -> None:
    assert [(e.field, e.message) for e in flatten_messages("oops")] == [("body", "oops")]
