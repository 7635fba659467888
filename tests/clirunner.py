"""Running the command line in process with standard output and standard error kept apart
(``result.stdout``, ``result.stderr``), whichever click is installed."""

from __future__ import annotations

from click.testing import CliRunner

from coherence_rules.cli import main


def invoke(*args: str):
    try:
        runner = CliRunner(mix_stderr=False)  # click 8.1
    except TypeError:
        runner = CliRunner()  # click 8.2 and later keep stderr apart
    return runner.invoke(main, list(args), catch_exceptions=False)
