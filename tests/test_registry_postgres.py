"""The registry's scenarios again on a real PostgreSQL server, started by the test run.

The tests are those of ``test_registry.py`` that take ``registry_url``; here that
fixture names a fresh PostgreSQL database instead of a SQLite file (see
``postgres_fixture.py``: skipped without PostgreSQL binaries unless ``CI`` is set).
Tampering uses ``session_replication_role = replica``, which switches off the
append-only triggers and foreign keys as an administrator could.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from postgres_fixture import postgres_server, postgres_url  # noqa: F401
from test_registry import (  # noqa: F401  (collected here, run against PostgreSQL)
    make_report,
    populated,
    registry,
    test_a_database_from_a_newer_auditor_is_refused,
    test_a_failure_mid_record_leaves_no_half_entry,
    test_a_process_killed_mid_record_leaves_no_half_entry,
    test_a_rewritten_chain_is_caught_by_a_published_head,
    test_cli_record_history_signoff_and_verify,
    test_history_lists_releases_in_order_with_verdicts_and_signoff_status,
    test_history_shows_key_metrics_per_group_and_suppressed_groups_without_numbers,
    test_migrations_from_an_empty_database_up_and_down,
    test_names_longer_than_their_columns_are_refused,
    test_parallel_processes_record_in_turn_and_keep_the_chain_valid,
    test_record_stores_the_report_its_hashes_verdict_and_who,
    test_signoff_refuses_a_report_changed_since_it_was_recorded,
    test_the_database_refuses_to_update_or_delete_log_rows,
    test_verify_log_finds_a_forged_entry_appended_with_valid_hashes,
    test_verify_log_finds_an_entry_edited_with_its_content_hash_recomputed,
    test_verify_log_finds_an_entry_inserted_in_the_middle,
    test_verify_log_finds_each_kind_of_tampering,
    test_verify_log_on_an_intact_chain,
)
from test_registry_security import (  # noqa: F401  (collected here, run against PostgreSQL)
    chair,
    signed,
    test_a_forged_audit_appended_is_caught_by_its_missing_report_signature,
    test_a_forged_signoff_appended_is_caught_by_its_missing_signature,
    test_a_rewritten_log_is_caught_by_a_signed_head_statement,
    test_a_rewritten_verdict_is_caught_against_the_signed_report,
    test_a_signoff_signed_by_an_untrusted_key_or_with_a_copied_signature_is_caught,
    test_a_signoff_with_an_authenticated_identity_is_signed_and_verified,
    test_a_truncated_log_is_caught_only_by_a_published_head,
    test_a_typed_row_can_only_be_added_with_its_entry,
    test_an_append_without_trusted_keys_is_caught_only_by_a_head_published_after_each_write,
    test_cli_log_head_and_verify_log_with_a_statement,
    test_cli_signature_round_trip_and_a_forged_report_refused,
    test_identities_are_one_line_and_text_is_printed_escaped,
    test_migration_0003_turns_the_guards_on_for_a_populated_registry,
    test_record_refuses_an_edited_verdict_and_unsigned_or_untrusted_reports,
    test_the_chain_head_moves_only_by_an_append,
    test_the_database_refuses_an_append_that_does_not_follow_the_head,
)

from auditor.registry import Registry

pytestmark = pytest.mark.postgres


@pytest.fixture
def registry_url(postgres_url: str) -> str:  # noqa: F811
    return postgres_url


def test_postgres_registry_uses_postgres_and_its_append_only_triggers(
    registry_url: str,
) -> None:
    with Registry(registry_url) as opened:
        assert opened.engine.dialect.name == "postgresql"
        report, text = make_report("1.0")
        opened.record(report, report_json=text, ran_by="x")
        engine = sa.create_engine(registry_url)
        with engine.connect() as conn:
            triggers = set(
                conn.execute(
                    sa.text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")
                ).scalars()
            )
            with pytest.raises(sa.exc.DatabaseError, match="log_entries is append-only"):
                conn.execute(sa.text("TRUNCATE log_entries CASCADE"))
        engine.dispose()
    assert triggers == {
        f"{table}_{kind}"
        for table in ("log_entries", "audits", "signoffs")
        for kind in ("append_only", "no_truncate")
    } | {
        "log_entries_follow_head",
        "log_entries_move_head",
        "chain_head_only_by_append",
        "chain_head_no_truncate",
        "audits_for_head_only",
        "signoffs_for_head_only",
    }


def test_without_postgres_the_tests_skip_outside_ci_and_fail_in_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import postgres_fixture

    monkeypatch.setattr(postgres_fixture, "DEBIAN_GLOB", "/nonexistent/*/bin")
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv(postgres_fixture.ENV_BINDIR, raising=False)
    assert postgres_fixture.find_bindir() is None
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="PostgreSQL tests need initdb"):
        postgres_fixture._unavailable(postgres_fixture.MSG_NO_BINARIES)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set, so this is a failure"):
        postgres_fixture._unavailable(postgres_fixture.MSG_NO_BINARIES)
