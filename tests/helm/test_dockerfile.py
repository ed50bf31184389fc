"""Static checks of the Dockerfile (no Docker engine runs here, so it cannot be built).

The linter's rules are tested against the real Dockerfile and against small bad examples,
so a rule that silently stopped matching would be noticed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.helm.dockerfile_lint import lint, parse, tag_of, unpinned_requirements

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
REQUIRED_COPIES = ("app.py", "asgi.py", "pages", "portal", "provisioning", ".streamlit")
CHART_VALUES = ROOT / "helm" / "store-platform" / "values.yaml"

GOOD = """\
FROM python:3.11.14-slim-bookworm
WORKDIR /app
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt
COPY app.py asgi.py ./
COPY pages/ ./pages/
COPY portal/ ./portal/
COPY provisioning/ ./provisioning/
COPY .streamlit/ ./.streamlit/
USER 10001:10001
HEALTHCHECK CMD ["python", "/app/docker/healthcheck.py"]
CMD ["streamlit", "run", "app.py"]
"""


@pytest.fixture(scope="module")
def dockerfile_text() -> str:
    return DOCKERFILE.read_text()


def test_project_dockerfile_passes_the_linter(dockerfile_text: str) -> None:
    assert lint(dockerfile_text, required_copies=REQUIRED_COPIES) == []


def test_base_image_is_python_311_slim_pinned(dockerfile_text: str) -> None:
    froms = parse(dockerfile_text).all("FROM")
    assert len(froms) == 1
    image = froms[0].args.split()[0]
    assert image.startswith("python:3.11.")
    tag = tag_of(image)
    assert tag is not None and "slim" in tag and tag != "latest"


def test_runs_as_the_charts_non_root_uid(dockerfile_text: str) -> None:
    """USER in the image and runAsUser in the chart are the same uid, so files line up."""
    user = parse(dockerfile_text).last("USER")
    assert user is not None
    uid = user.args.split(":")[0]
    values = yaml.safe_load(CHART_VALUES.read_text())
    assert uid == str(values["podSecurityContext"]["runAsUser"]) == "10001"
    assert values["containerSecurityContext"]["runAsNonRoot"] is True


def test_default_command_is_the_portal_and_the_chart_runs_the_same(dockerfile_text: str) -> None:
    cmd = parse(dockerfile_text).last("CMD")
    assert cmd is not None
    expected = ["streamlit", "run", "asgi.py", "--server.port=8501", "--server.address=0.0.0.0"]
    assert cmd.exec_form() == expected
    values = yaml.safe_load(CHART_VALUES.read_text())
    assert values["portal"]["command"] == expected
    assert values["worker"]["command"] == ["python", "-m", "provisioning.worker"]


def test_healthcheck_runs_the_shipped_script(dockerfile_text: str) -> None:
    dockerfile = parse(dockerfile_text)
    healthcheck = dockerfile.last("HEALTHCHECK")
    assert healthcheck is not None
    command = healthcheck.exec_form()
    assert command is not None and command[0] == "python"
    script = command[1]
    copied = {dest for _, dest in dockerfile.copies()}
    assert script in copied or script.removeprefix(dockerfile.workdir().rstrip("/") + "/") in {
        d.removeprefix("./") for d in copied
    }
    assert (ROOT / "docker" / "healthcheck.py").is_file()


def test_every_copied_path_exists_and_is_not_dockerignored(dockerfile_text: str) -> None:
    ignored = {
        line.strip().rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#") and not line.startswith("!")
    }
    reincluded = {
        line.strip()[1:] for line in (ROOT / ".dockerignore").read_text().splitlines() if line.startswith("!")
    }
    for sources, _ in parse(dockerfile_text).copies():
        for source in sources:
            path = source.rstrip("/")
            assert (ROOT / path).exists(), f"COPY {source}: not in the repo"
            top = path.split("/")[0]
            assert path in reincluded or (path not in ignored and top not in ignored), (
                f"COPY {source}: excluded by .dockerignore"
            )
    for heavy in (".venv", ".git", "tests"):
        assert heavy in ignored, f"{heavy} should be in .dockerignore"


def test_requirements_are_pinned() -> None:
    assert unpinned_requirements((ROOT / "requirements.txt").read_text()) == []


# -- the linter's rules catch what they claim to ------------------------------------------


def test_linter_accepts_a_minimal_good_dockerfile() -> None:
    assert lint(GOOD, required_copies=REQUIRED_COPIES) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (("python:3.11.14-slim-bookworm", "python:latest"), "uses latest"),
        (("python:3.11.14-slim-bookworm", "python"), "has no tag"),
        (("python:3.11.14-slim-bookworm", "python:3.11-slim"), "not pinned to a patch version"),
        (("USER 10001:10001\n", ""), "no USER before CMD"),
        (("USER 10001:10001\n", "USER root\n"), "is root"),
        (("USER 10001:10001\n", "USER 0\n"), "is root"),
        (('HEALTHCHECK CMD ["python", "/app/docker/healthcheck.py"]\n', ""), "no HEALTHCHECK"),
        (('HEALTHCHECK CMD ["python", "/app/docker/healthcheck.py"]\n', "HEALTHCHECK NONE\n"), "disables"),
        (("pip install --no-cache-dir -r", "pip install -r"), "--no-cache-dir"),
        (("COPY pages/ ./pages/\n", ""), "pages is not copied"),
        (("COPY .streamlit/ ./.streamlit/\n", ""), ".streamlit is not copied"),
        (('CMD ["streamlit", "run", "app.py"]', "CMD streamlit run app.py"), "exec (JSON) form"),
        (("COPY app.py asgi.py ./\n", "COPY . .\n"), "whole build context"),
        (("RUN pip install --no-cache-dir", "RUN pip install requests && pip install --no-cache-dir"), "unpinned"),
    ],
)
def test_linter_rejects(change: tuple[str, str], problem: str) -> None:
    old, new = change
    assert old in GOOD
    problems = lint(GOOD.replace(old, new), required_copies=REQUIRED_COPIES)
    assert any(problem in p for p in problems), problems


def test_user_after_cmd_is_rejected() -> None:
    text = GOOD.replace("USER 10001:10001\n", "") + "USER 10001\n"
    problems = lint(text, required_copies=REQUIRED_COPIES)
    assert any("no USER before CMD" in p for p in problems)
    assert any("USER after CMD" in p for p in problems)


def test_parser_joins_continuations_and_reads_env() -> None:
    dockerfile = parse(
        'FROM python:3.11.14-slim\n# a comment\nENV A=1 \\\n    # inside\n    B="two words"\nENV LEGACY value here\n'
    )
    assert [i.keyword for i in dockerfile.instructions] == ["FROM", "ENV", "ENV"]
    assert dockerfile.env() == {"A": "1", "B": "two words", "LEGACY": "value here"}


def test_unpinned_requirements_are_reported() -> None:
    text = "# comment\nstreamlit==1.0.0\npsycopg[binary]==3.3.9\nrequests>=2\npandas\n-r other.txt\n"
    assert unpinned_requirements(text) == ["requests>=2", "pandas"]
