"""Every user error is one clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from pos_cli import pos_env, run_pos

UNREACHABLE_DB = "postgresql://postgres:s3cret-pw@127.0.0.1:9/pos"
UNREACHABLE_BROKER = "127.0.0.1:9"


def assert_one_line_error(result: object, code: int, *fragments: str) -> None:
    stderr = result.stderr  # type: ignore[attr-defined]
    assert result.returncode == code, stderr  # type: ignore[attr-defined]
    assert "Traceback" not in stderr
    text = " ".join(stderr.split())
    assert text.startswith("error: "), stderr
    for fragment in fragments:
        assert fragment in text, stderr


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["simulate", "--bogus"], "No such option: --bogus"),
        (["simulate", "--count", "many"], "--count"),
        (["simulate", "--output", "xml"], "--output"),
        (["consume", "--idle-exit", "soon"], "--idle-exit"),
    ],
)
def test_bad_flags(tmp_path: Path, args: list[str], fragment: str) -> None:
    assert_one_line_error(run_pos(args, pos_env(tmp_path), tmp_path), 2, fragment)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (
            ["simulate", "--start", "2025-13-01", "--output", "jsonl", "--count", "1"],
            "--start must be a date",
        ),
        (
            ["simulate", "--start", "2010-01-01", "--output", "jsonl", "--count", "1"],
            "2016-01-01 or later",
        ),
        (["simulate", "--count", "-5", "--output", "jsonl"], "--count must be 0 or more"),
        (
            ["simulate", "--scale", "0", "--output", "jsonl", "--count", "1"],
            "--scale must be positive",
        ),
        (["simulate", "--output", "jsonl"], "needs --count, --days or --start"),
        (["demo", "--transactions", "0"], "--transactions must be at least 1"),
    ],
)
def test_bad_values(tmp_path: Path, args: list[str], fragment: str) -> None:
    assert_one_line_error(run_pos(args, pos_env(tmp_path), tmp_path), 1, fragment)


@pytest.mark.parametrize(
    ("variable", "value", "fragment"),
    [
        ("POS_TOPIC", "bad topic!", "POS_TOPIC"),
        ("POS_DATABASE_URL", "mysql://x@y/z", "POS_DATABASE_URL"),
    ],
)
def test_bad_config_values(tmp_path: Path, variable: str, value: str, fragment: str) -> None:
    env = pos_env(tmp_path, **{variable: value})
    assert_one_line_error(run_pos(["db", "init"], env, tmp_path), 1, fragment)


def test_bad_config_in_dotenv_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("POS_DLQ_TOPIC=no spaces allowed\n")
    assert_one_line_error(run_pos(["services", "status"], pos_env(tmp_path), tmp_path), 1, "POS_DLQ_TOPIC")


def test_unreachable_database_names_it_without_the_password(tmp_path: Path) -> None:
    env = pos_env(tmp_path, POS_DATABASE_URL=UNREACHABLE_DB)
    result = run_pos(["db", "init"], env, tmp_path)
    assert_one_line_error(result, 1, "cannot connect to PostgreSQL", "127.0.0.1:9")
    assert "s3cret-pw" not in result.stderr + result.stdout
    status = run_pos(["services", "status"], env, tmp_path)
    assert "s3cret-pw" not in status.stdout + status.stderr
    assert "***" in status.stdout


def test_unreachable_broker(tmp_path: Path) -> None:
    env = pos_env(tmp_path, POS_KAFKA_BOOTSTRAP_SERVERS=UNREACHABLE_BROKER)
    assert_one_line_error(
        run_pos(["simulate", "--count", "1"], env, tmp_path, timeout=60),
        1,
        "cannot reach the Kafka broker at 127.0.0.1:9",
    )


def test_embedded_services_not_running(tmp_path: Path) -> None:
    assert_one_line_error(
        run_pos(["consume"], pos_env(tmp_path), tmp_path), 1, "not running", "pos services start"
    )


def test_restore_refuses_a_missing_file(tmp_path: Path, empty_database_url: str) -> None:
    env = pos_env(tmp_path, POS_DATABASE_URL=empty_database_url)
    assert_one_line_error(
        run_pos(["db", "restore", str(tmp_path / "nope.sql")], env, tmp_path),
        1,
        "no such dump file",
    )


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    env = pos_env(tmp_path, POS_DATABASE_URL=UNREACHABLE_DB)
    result = run_pos(["--debug", "db", "init"], env, tmp_path)
    assert result.returncode != 0
    assert "Traceback" in result.stderr


def test_bad_kafka_client_property(tmp_path: Path, bootstrap: str) -> None:
    env = pos_env(tmp_path, POS_KAFKA_BOOTSTRAP_SERVERS=bootstrap, POS_KAFKA_NO_SUCH_PROPERTY="1")
    assert_one_line_error(
        run_pos(["simulate", "--count", "1"], env, tmp_path),
        1,
        "invalid Kafka client setting",
        "no.such.property",
    )


def test_consume_into_an_uninitialised_database(
    tmp_path: Path, bootstrap: str, empty_database_url: str
) -> None:
    env = pos_env(tmp_path, POS_KAFKA_BOOTSTRAP_SERVERS=bootstrap, POS_DATABASE_URL=empty_database_url)
    assert_one_line_error(
        run_pos(["consume", "--idle-exit", "1"], env, tmp_path),
        1,
        "has no warehouse schema",
        "run `pos db init`",
    )
