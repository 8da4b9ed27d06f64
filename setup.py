"""The build of vpbx's one C extension, the relay core of a bridged talk (issue 17); everything
else about the package is in pyproject.toml. The extension is optional: where it does not
compile, the package installs without it and the Python relay does its work."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "vpbx.media._fastrelay",
            sources=["src/vpbx/media/_fastrelay.c"],
            extra_compile_args=["-O2", "-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra"],
            optional=True,
        )
    ]
)
