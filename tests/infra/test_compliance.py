"""Compliance of the synthesized app: cdk-nag (AWS Solutions), CDK's own annotations, and cfn-lint."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import Validations
from cdk_nag import AwsSolutionsChecks
from cfnlint.api import ManualArgs, lint_file

from tests.infra.conftest import Synthesized

# cfn-lint checks left out, each with its reason.
CFN_LINT_IGNORED = {
    # aws-cdk-lib writes DependsOn next to the Ref/GetAtt that already orders two resources (Lambda roles,
    # custom resource providers): redundant, and not ours to change.
    "W3005",
}


@pytest.fixture(params=["synthesized", "synthesized_with_options"])
def any_app(request: pytest.FixtureRequest) -> Synthesized:
    """The app as a plain deploy builds it, and with every option set (their resources and grants differ)."""
    app: Synthesized = request.getfixturevalue(request.param)
    return app


def test_cdk_nag_finds_nothing_unacknowledged(any_app: Synthesized) -> None:
    report = AwsSolutionsChecks(verbose=True).validate_scope(any_app.app)
    findings = [
        f"{v.rule_name} ({v.severity}) at {[r.construct_path for r in v.violating_resources]}: {v.description}"
        for v in report.violations
    ]
    assert findings == []
    assert report.success


def test_every_acknowledgment_is_specific_and_says_why(any_app: Synthesized) -> None:
    """Ours are on the construct concerned (never stack-wide) with a reason that explains."""
    acknowledged: list[tuple[str, str, Any]] = [
        (construct.node.path, rule_id, reason)
        for construct in any_app.app.node.find_all()
        for entry in construct.node.metadata
        if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY
        for rule_id, reason in entry.data.items()
        if "AwsSolutions-" in rule_id  # aws-cdk-lib acknowledges some CloudFormation-Validate rules itself
    ]
    assert acknowledged, "known findings are acknowledged; none found means the metadata layout changed"
    for path, rule_id, reason in acknowledged:
        assert path.count("/") >= 1, f"{rule_id} is acknowledged for the whole {path}"
        assert isinstance(reason, str) and len(reason.split()) >= 8, (path, rule_id, reason)


def test_synthesis_reports_no_warning_or_error(any_app: Synthesized) -> None:
    messages = [
        (m.id, m.entry.type, m.entry.data) for m in any_app.artifact.messages if m.level.name in {"WARNING", "ERROR"}
    ]
    assert messages == []


def test_cfn_lint_is_clean(synthesized: Synthesized, synthesized_with_options: Synthesized) -> None:
    """One lint (about 3 s each) of the template with every option: it holds every resource of the default one,
    with the same properties but for values of the same types."""
    default, with_options = synthesized.template["Resources"], synthesized_with_options.template["Resources"]
    assert set(default) <= set(with_options)
    assert all(
        set(r.get("Properties", {})) <= set(with_options[lid].get("Properties", {})) for lid, r in default.items()
    )
    matches = lint_file(
        synthesized_with_options.template_path, config=ManualArgs(ignore_checks=sorted(CFN_LINT_IGNORED))
    )
    assert [str(match) for match in matches] == []
