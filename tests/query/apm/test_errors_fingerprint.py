"""Fingerprint unit tests: masking, in-app frames per stack format, stability."""

from __future__ import annotations

from query.apm.fingerprint import fingerprint, log_fingerprint, mask, top_frames

PY_TRACE = """Traceback (most recent call last):
  File "/usr/lib/python3.11/asyncio/tasks.py", line 10, in run
    x()
  File "/app/.venv/lib/python3.11/site-packages/litestar/routes/http.py", line 200, in _call_handler
    y()
  File "/app/instrumentation/demo/backends.py", line 123, in charge
    txn = await authorize(order_id, amount)
  File "/app/instrumentation/demo/backends.py", line 114, in authorize
    return await call_gateway(order_id, amount_cents)
  File "/app/instrumentation/demo/backends.py", line 108, in call_gateway
    raise PaymentGatewayError(
  File "<frozen importlib._bootstrap>", line 1, in _load
instrumentation.demo.backends.PaymentGatewayError: gateway declined transaction txn_1 for order 7: code 51
"""

JAVA_TRACE = """java.lang.IllegalStateException: order 42 not found
\tat com.shop.orders.OrderService.load(OrderService.java:88)
\tat com.shop.orders.OrderController.get(OrderController.java:31)
\tat java.base/jdk.internal.reflect.Method.invoke(Method.java:566)
\tat com.shop.web.Router.dispatch(Router.java:12)
\tat com.shop.web.Server.serve(Server.java:5)
"""

JS_TRACE = """TypeError: Cannot read properties of undefined (reading 'id')
    at loadCart (/srv/app/cart.js:10:5)
    at /srv/app/node_modules/express/lib/router/layer.js:95:5
    at async handle (/srv/app/routes.js:44:12)
    at node:internal/process/task_queues:95:5
"""

GO_TRACE = """panic: runtime error: index out of range [5] with length 3

goroutine 1 [running]:
main.pick(...)
\t/home/dev/shop/pick.go:12 +0x1d
main.main()
\t/home/dev/shop/main.go:7 +0x25
runtime.goexit()
\t/usr/local/go/src/runtime/asm_amd64.s:1650 +0x1
"""


def test_mask_replaces_variable_parts() -> None:
    assert mask("gateway declined transaction txn_924987558 for order 328: code 54") == \
        "gateway declined transaction txn_<n> for order <n>: code <n>"
    assert mask("user bob@example.com id 3f2b9c1e-1a2b-4c3d-8e9f-001122334455") == "user <email> id <uuid>"
    assert mask("key 'abc' missing at https://x.example/orders/77?q=1") == "key <str> missing at <url>"
    assert mask("object 0xdeadbeef and deadbeef0123 freed") == "object <hex> and <hex> freed"
    assert mask("took 1.5s") != mask("took 1.5 of")  # words survive


def test_same_pattern_same_fingerprint_different_type_differs() -> None:
    a = fingerprint("PaymentGatewayError", "gateway declined transaction txn_924987558 for order 328: code 54")
    b = fingerprint("PaymentGatewayError", "gateway declined transaction txn_1 for order 7: code 51")
    c = fingerprint("OtherError", "gateway declined transaction txn_1 for order 7: code 51")
    assert a == b != c
    assert len(a) == 16 and int(a, 16) >= 0


def test_python_frames_skip_libraries_and_stdlib_innermost_first() -> None:
    assert top_frames(PY_TRACE) == ["/app/instrumentation/demo/backends.py:call_gateway",
                                    "/app/instrumentation/demo/backends.py:authorize",
                                    "/app/instrumentation/demo/backends.py:charge"]


def test_frames_change_the_fingerprint_but_line_numbers_do_not() -> None:
    moved = PY_TRACE.replace("line 108", "line 109")
    other = PY_TRACE.replace("in call_gateway", "in call_other")
    msg = "gateway declined transaction txn_1 for order 7: code 51"
    assert fingerprint("E", msg, PY_TRACE) == fingerprint("E", msg, moved) != fingerprint("E", msg, other)
    assert fingerprint("E", msg, PY_TRACE) != fingerprint("E", msg)


def test_java_js_go_frames() -> None:
    assert top_frames(JAVA_TRACE) == ["com.shop.orders.OrderService:load", "com.shop.orders.OrderController:get",
                                      "com.shop.web.Router:dispatch"]
    assert top_frames(JS_TRACE) == ["/srv/app/cart.js:loadCart", "/srv/app/routes.js:handle"]
    assert top_frames(GO_TRACE) == ["/home/dev/shop/pick.go:main.pick", "/home/dev/shop/main.go:main.main"]
    assert top_frames("no stack here") == []


def test_log_fingerprint_by_service_and_masked_body() -> None:
    assert log_fingerprint("checkout", "payments failed: POST /charge -> 500 order 3") == \
        log_fingerprint("checkout", "payments failed: POST /charge -> 500 order 99")
    assert log_fingerprint("checkout", "x 1") != log_fingerprint("frontend", "x 1")
