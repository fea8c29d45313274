"""The image the invalidation Deployment runs is the tools image, and it holds the service.

Before: the Dockerfile copied neither invalidator/ nor prometheus-client, and no image program
could import the service kit (cachekit imports opentelemetry, which it did not install).
"""

from __future__ import annotations

import re

from components.invalidation import component
from components.tools_image import TOOLS_UID
from stackconfig.config import TOOLS_IMAGE, InvalidationConfig
from tests.support.tools_image import (
    ROOT,
    dockerfile,
    image_libraries,
    loaded_project_files,
    missing_libraries,
)

PROGRAMS = (
    # The Deployment's `python -m invalidator`, and what its loop imports lazily.
    "invalidator.__main__",
    "invalidator.consumer",
    "invalidator.purge",
    # The backup CronJob's program and the operators' CLI, from the same image.
    "cachectl.backup_cli",
    "cachectl.cli",
)


def test_the_deployment_runs_the_tools_image_as_its_user() -> None:
    assert InvalidationConfig().image == TOOLS_IMAGE
    assert re.search(rf"^USER {TOOLS_UID}(:{TOOLS_UID})?$", dockerfile(), re.M)
    source = (ROOT / "components" / "invalidation" / "component.py").read_text()
    assert 'command=["python", "-m", "invalidator"]' in source
    assert component.TOOLS_UID == TOOLS_UID


def test_the_image_copies_every_package_its_programs_load() -> None:
    copied = set(re.findall(r"^COPY (\w+)/ \1/$", dockerfile(), re.M))
    packages = {path.relative_to(ROOT).parts[0] for path in loaded_project_files(*PROGRAMS)}
    assert "invalidator" in packages
    assert packages <= copied, f"loaded but not copied into the image: {packages - copied}"


def test_the_image_installs_every_library_its_programs_import() -> None:
    assert "prometheus-client" in image_libraries()
    missing = missing_libraries(loaded_project_files(*PROGRAMS))
    assert not missing, f"imported by the image's programs but not installed: {missing}"
