"""coro_test: one test source, run against both context backends."""

def coro_test(name, srcs, deps = [], copts = [], tags = [], **kwargs):
    """Defines `<name>` (assembly backend) and `<name>_boost` (Boost.Context).

    The Boost variant is tagged native_only: Boost is installed for the host
    only, and the cross configs (.bazelrc) filter that tag out.
    """
    for suffix, backend, extra_tags in [
        ("", "//coro:context_asm", []),
        ("_boost", "//coro:context_boost", ["native_only"]),
    ]:
        native.cc_test(
            name = name + suffix,
            srcs = srcs,
            copts = copts,
            tags = tags + extra_tags,
            deps = deps + [
                "//coro:coro_core",
                backend,
                "@gtest//:gtest_main",
            ],
            **kwargs
        )
