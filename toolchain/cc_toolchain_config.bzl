"""cross_toolchain_config: a C++ toolchain config for a Debian cross compiler.

Bazel 4.2.3's auto-configured toolchain only knows the host compiler, and pointing
CC at a cross gcc does not work (it keeps the x86 linker, and select() cannot tell
the CPUs apart). This rule describes one installed cross gcc by absolute tool paths
instead; toolchain/BUILD.bazel wraps it in cc_toolchain and cc_toolchain_suite.

mingw links -static: wine then needs no mingw runtime DLLs beside the .exe.
aarch64 links libstdc++ and libgcc statically and the rest dynamically: hwloc
comes from Debian's arm64 multiarch packages (libhwloc-dev:arm64, which ./bazelw
installs), whose static libhwloc.a would need a static libudev that Debian does not
ship; qemu-aarch64 finds the arm64 loader and libraries at their multiarch paths
(/lib/ld-linux-aarch64.so.1, /lib/aarch64-linux-gnu).
"""

load(
    "@bazel_tools//tools/cpp:cc_toolchain_config_lib.bzl",
    "artifact_name_pattern",
    "feature",
    "flag_group",
    "flag_set",
    "tool_path",
)
load("@bazel_tools//tools/build_defs/cc:action_names.bzl", "ACTION_NAMES")

_COMPILE_ACTIONS = [
    ACTION_NAMES.assemble,
    ACTION_NAMES.preprocess_assemble,
    ACTION_NAMES.c_compile,
    ACTION_NAMES.cpp_compile,
    ACTION_NAMES.cpp_header_parsing,
    ACTION_NAMES.cpp_module_compile,
    ACTION_NAMES.cpp_module_codegen,
    ACTION_NAMES.linkstamp_compile,
]

_LINK_ACTIONS = [
    ACTION_NAMES.cpp_link_executable,
    ACTION_NAMES.cpp_link_dynamic_library,
    ACTION_NAMES.cpp_link_nodeps_dynamic_library,
]

def _flags_feature(name, actions, flags, enabled = False):
    return feature(
        name = name,
        enabled = enabled,
        flag_sets = [flag_set(actions = actions, flag_groups = [flag_group(flags = flags)])],
    )

def _impl(ctx):
    prefix = ctx.attr.tool_prefix
    tools = {
        "ar": prefix + "ar",
        "cpp": prefix + "cpp",
        # g++ as the compiler and linker driver: spindle has no C sources, and g++
        # puts libstdc++ at the right place on a -static link line.
        "gcc": prefix + "g++" + ctx.attr.gxx_suffix,
        "gcov": prefix + "gcov",
        "ld": prefix + "ld",
        "nm": prefix + "nm",
        "objcopy": prefix + "objcopy",
        "objdump": prefix + "objdump",
        "strip": prefix + "strip",
    }
    features = [
        _flags_feature(
            "default_compile_flags",
            _COMPILE_ACTIONS,
            # Keep header paths as the compiler found them, so that Bazel's
            # inclusion check matches them against cxx_builtin_include_directories.
            ["-no-canonical-prefixes", "-fno-canonical-system-headers"] + ctx.attr.compile_flags,
            enabled = True,
        ),
        _flags_feature(
            "default_link_flags",
            _LINK_ACTIONS,
            ["-no-canonical-prefixes"] + (["-static"] if ctx.attr.static else []) + ctx.attr.link_flags,
            enabled = True,
        ),
        # Bazel turns these on for -c opt / -c dbg; fastbuild gets no flags.
        _flags_feature("opt", _COMPILE_ACTIONS, ["-O2", "-DNDEBUG"]),
        _flags_feature("dbg", _COMPILE_ACTIONS, ["-g"]),
    ]
    patterns = []
    if ctx.attr.executable_extension:
        # Without this Bazel expects `foo` while the mingw linker writes `foo.exe`
        # ("output was not created").
        patterns.append(artifact_name_pattern(
            category_name = "executable",
            prefix = "",
            extension = ctx.attr.executable_extension,
        ))
    return cc_common.create_cc_toolchain_config_info(
        ctx = ctx,
        toolchain_identifier = ctx.attr.name,
        host_system_name = "x86_64-linux-gnu",
        target_system_name = ctx.attr.target_system_name,
        target_cpu = ctx.attr.cpu,
        target_libc = ctx.attr.target_libc,
        compiler = "gcc",
        abi_version = ctx.attr.target_libc,
        abi_libc_version = ctx.attr.target_libc,
        tool_paths = [tool_path(name = k, path = v) for k, v in tools.items()],
        features = features,
        artifact_name_patterns = patterns,
        cxx_builtin_include_directories = ctx.attr.include_directories,
    )

cross_toolchain_config = rule(
    implementation = _impl,
    provides = [CcToolchainConfigInfo],
    attrs = {
        "cpu": attr.string(mandatory = True),
        "target_system_name": attr.string(mandatory = True),
        "target_libc": attr.string(mandatory = True),
        # Absolute path prefix of the binutils and gcc, e.g. /usr/bin/aarch64-linux-gnu-
        "tool_prefix": attr.string(mandatory = True),
        # Appended to g++ only, e.g. "-posix" for mingw's posix thread model.
        "gxx_suffix": attr.string(default = ""),
        "compile_flags": attr.string_list(default = []),
        "link_flags": attr.string_list(default = []),
        # Link executables -static (see the module docstring); False links the
        # target's libc (and whatever link_flags leave dynamic) dynamically.
        "static": attr.bool(default = True),
        "executable_extension": attr.string(default = ""),
        # Real directories (not symlinks) the compiler searches by itself.
        "include_directories": attr.string_list(mandatory = True),
    },
)
