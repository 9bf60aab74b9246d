"""coro_test: one test source, run against both context backends."""

def coro_test(name, srcs, deps = [], copts = [], **kwargs):
    """Defines `<name>` (assembly backend) and `<name>_boost` (Boost.Context)."""
    for suffix, backend in [("", "//coro:context_asm"), ("_boost", "//coro:context_boost")]:
        native.cc_test(
            name = name + suffix,
            srcs = srcs,
            copts = copts,
            deps = deps + [
                "//coro:coro_core",
                backend,
                "@gtest//:gtest_main",
            ],
            **kwargs
        )
