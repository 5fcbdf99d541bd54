"""Trace context parsing and propagation through Kafka-style headers."""

from __future__ import annotations

from shared import tracing


def test_traceparent_round_trips() -> None:
    context = tracing.new_trace()

    parsed = tracing.parse_traceparent(context.traceparent())

    assert parsed == context


def test_invalid_traceparents_are_ignored() -> None:
    for value in [None, "", "01-abc", "00-" + "0" * 32 + "-" + "1" * 16 + "-01", "00-xyz-123-01"]:
        assert tracing.parse_traceparent(value) is None


def test_consumer_continues_the_producers_trace_with_a_new_span() -> None:
    parent = tracing.new_trace()

    child = tracing.continue_from_headers([("type", b"x"), ("traceparent", parent.traceparent().encode())])

    assert child.trace_id == parent.trace_id
    assert child.span_id != parent.span_id


def test_events_without_trace_start_a_new_one() -> None:
    assert len(tracing.continue_from_headers(None).trace_id) == 32


def test_activation_is_scoped() -> None:
    context = tracing.new_trace()
    token = tracing.activate(context)
    assert tracing.current() == context
    tracing.deactivate(token)
    assert tracing.current() is None
