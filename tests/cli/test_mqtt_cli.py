"""``ringvault mqtt`` and ``ringvault serve --broker`` as a user runs them: real processes, the simulator, a real
Mosquitto broker. The Last-Will when the process is killed, a clean stop, a refused login and a bad URL in one line
(never the password), and serve's bridge on serve's one push registration with links to serve's own pages."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import httpx
import pytest

from ringvault.sim.server import SimServer
from tests.cli.watch_helpers import ding, errors, output, wait_for
from tests.cli_process import CliProcess, cli_env, run_cli
from tests.mqtt.broker import Broker, Received
from tests.mqtt.fixtures import BrokerFactory, SubscriberFactory
from tests.server.events_helpers import Serve

pytestmark = pytest.mark.timeout(240)

WAIT_S = 60.0


def start_mqtt(sim: SimServer, home: Path, workdir: Path, *args: str) -> CliProcess:
    return CliProcess(["mqtt", *args], cli_env(sim, home), workdir, "mqtt")


def doorbell(sim: SimServer) -> int:
    return min(d.id for d in sim.state.world.devices.values() if d.family == "doorbots" and d.spec.protect)


def events_with(messages: list[Received], event_id: str) -> list[dict[str, object]]:
    found = []
    for message in messages:
        if message.topic.endswith("/events"):
            payload = message.json()
            if payload.get("event_id") == event_id:
                found.append(payload)
    return found


def test_killed_bridge_leaves_its_will_and_a_stopped_one_says_offline(
    cloud_env: SimServer,
    logged_in: Path,
    rv_home: Path,
    tmp_path: Path,
    broker: Broker,
    subscriber_factory: SubscriberFactory,
) -> None:
    sim = cloud_env
    sub = subscriber_factory(broker, ["ringvault/#", "homeassistant/#"])
    proc = start_mqtt(sim, rv_home, tmp_path, "--broker", broker.url, "--ding-hold", "2")
    try:
        sub.wait_for_message("ringvault/status", "online", WAIT_S)
        config = sub.wait_for_message("homeassistant/sensor/ringvault_bridge_bridge/broker_connection/config", None,
                                      WAIT_S)  # fmt: skip
        assert config.json()["device"]["name"] == "ringvault"
        # a ding reaches the event topic (of its camera, or of the bridge when no family knows the camera)
        ding_id = ding(sim, doorbell(sim))
        new = sub.wait_for(lambda ms: events_with(ms, ding_id), WAIT_S, "the ding on an event topic")
        assert new[0]["type"] == "new" and new[0]["kind"] == "ding"
        sub.clear()
        proc.kill()  # SIGKILL: no goodbye; the broker publishes the Last-Will
        will = sub.wait_for_message("ringvault/status", "offline", WAIT_S)
        assert not will.retain  # forwarded live; and it stays on the broker:
        assert subscriber_factory(broker, ["ringvault/status"]).retained() == {"ringvault/status": b"offline"}
    finally:
        proc.kill()
    text = output(proc) + errors(proc)
    assert broker.password not in text

    # a second run, stopped with SIGTERM: "online", then a clean "offline" and exit 0
    sub.clear()
    proc = start_mqtt(sim, rv_home, tmp_path, "--broker", broker.url)
    try:
        sub.wait_for_message("ringvault/status", "online", WAIT_S)
        proc.popen.send_signal(signal.SIGTERM)
        result = proc.wait(WAIT_S)
    finally:
        proc.kill()
    assert result.returncode == 0, result.describe()
    assert sub.last("ringvault/status") is not None and sub.last("ringvault/status").text == "offline"  # type: ignore[union-attr]
    assert "mqtt stopped" in result.stderr
    assert broker.password not in result.output


def test_a_refused_login_is_one_line_without_the_password(
    cloud_env: SimServer, logged_in: Path, rv_home: Path, tmp_path: Path, broker: Broker
) -> None:
    wrong = "Wrong-" + broker.password[::-1]
    url = f"mqtt://{broker.username}:{wrong}@127.0.0.1:{broker.port}"
    result = run_cli(["mqtt", "--broker", url], cli_env(cloud_env, rv_home), tmp_path, "refused", WAIT_S)
    assert result.returncode == 3, result.describe()
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    refusal = [line for line in lines if "refused the login" in line]
    assert len(refusal) == 1, lines
    assert broker.username in refusal[0]
    assert wrong not in result.output and broker.password not in result.output
    assert "Traceback" not in result.output

    # the password from the environment instead of the URL: the same
    env = {**cli_env(cloud_env, rv_home), "RINGVAULT_MQTT_PASSWORD": wrong}
    url = f"mqtt://{broker.username}@127.0.0.1:{broker.port}"
    result = run_cli(["mqtt", "--broker", url], env, tmp_path, "refused-env", WAIT_S)
    assert result.returncode == 3 and wrong not in result.output, result.describe()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--broker", "http://user:s3cret-pw@host"], "must start with mqtt://"),
        (["--broker", "mqtt://user:s3cret-pw@host:99999"], "port"),
        (["--broker", "mqtt://user:s3cret-pw@host", "--snapshot", "sometimes"], "--snapshot 'sometimes'"),
        (["--broker", "mqtt://user:s3cret-pw@host", "--bypass", "everything"], "--bypass 'everything'"),
        (["--broker", "mqtt://user:s3cret-pw@host", "--ca-file", "/nonexistent/ca.pem"], "--ca-file"),
        (["--broker", "mqtt://user:s3cret-pw@host", "--base-topic", "a/#"], "base_topic"),
        (["--broker", "mqtt://user:s3cret-pw@host", "--ca-file", __file__], "--ca-file is for mqtts://"),
    ],
)
def test_bad_options_are_one_usage_line(
    cloud_env: SimServer, rv_home: Path, tmp_path: Path, args: list[str], words: str
) -> None:
    result = run_cli(["mqtt", *args], cli_env(cloud_env, rv_home), tmp_path, "usage", WAIT_S)
    assert result.returncode == 2, result.describe()
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and words in lines[0], lines
    assert "s3cret-pw" not in result.output


def test_serve_with_a_broker_bridges_on_its_one_push_registration(
    cloud_env: SimServer,
    logged_in: Path,
    rv_home: Path,
    tmp_path: Path,
    broker_factory: BrokerFactory,
    subscriber_factory: SubscriberFactory,
) -> None:
    sim = cloud_env
    broker = broker_factory()
    sub = subscriber_factory(broker, ["ringvault/#"])
    archive = tmp_path / "archive"
    serve = Serve(sim, rv_home, archive, tmp_path, "serve", "--broker", broker.url, "--mqtt-command-rate", "20")
    try:
        assert "MQTT: bridging to mqtt://" in output(serve.proc)
        sub.wait_for_message("ringvault/status", "online", WAIT_S)
        wait_for(lambda: serve.status()["watcher"]["state"] == "on", "serve's watcher on", serve.proc)
        ding_id = ding(sim, doorbell(sim))
        # the recording link comes with "update" (or already with "new", when the archive was quicker than push)
        messages = sub.wait_for(
            lambda ms: [e for e in events_with(ms, ding_id) if e["recording"]], 120, "the archived recording"
        )
        recording = messages[0]["recording"]
        assert isinstance(recording, dict)
        assert recording["url"] == f"{serve.url}/timeline/{ding_id}"
        assert Path(str(recording["path"])).is_file()
        assert httpx.get(str(recording["url"]), timeout=30).status_code == 200  # serve's own playback page
        assert events_with(sub.received, ding_id)[0]["type"] == "new"
        push = httpx.get(f"{sim.url}/_sim/push", timeout=10).json()
        assert len(push["ring_registrations"]) == 1, json.dumps(push["ring_registrations"])[:500]
        assert serve.stop() == 0
    finally:
        serve.proc.kill()
    assert sub.last("ringvault/status") is not None and sub.last("ringvault/status").text == "offline"  # type: ignore[union-attr]
    assert broker.password not in output(serve.proc) + errors(serve.proc)


def test_a_ca_file_that_is_no_certificate_is_one_line(
    cloud_env: SimServer, logged_in: Path, rv_home: Path, tmp_path: Path
) -> None:
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("this is not a certificate\n")
    args = ["mqtt", "--broker", "mqtts://user:s3cret-pw@127.0.0.1:8883", "--ca-file", str(not_pem)]
    result = run_cli(args, cli_env(cloud_env, rv_home), tmp_path, "bad-ca", WAIT_S)
    assert result.returncode not in (0, 2), result.describe()
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "CA certificate" in lines[0] and str(not_pem) in lines[0], lines
    assert "s3cret-pw" not in result.output and "Traceback" not in result.output


def test_serve_takes_the_bridge_options_and_refuses_a_bad_one_in_one_line(
    cloud_env: SimServer, rv_home: Path, tmp_path: Path
) -> None:
    args = [
        "serve",
        "--archive",
        str(tmp_path / "archive"),
        "--port",
        "0",
        "--broker",
        "mqtt://u:s3cret-pw@127.0.0.1:9",
    ]
    result = run_cli([*args, "--mqtt-bypass", "everything"], cli_env(cloud_env, rv_home), tmp_path, "bad", WAIT_S)
    assert result.returncode == 2, result.describe()
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "--mqtt-bypass 'everything'" in lines[0], lines
    assert "s3cret-pw" not in result.output
    result = run_cli([*args, "--mqtt-snapshot", "often"], cli_env(cloud_env, rv_home), tmp_path, "bad2", WAIT_S)
    assert result.returncode == 2 and "--mqtt-snapshot 'often'" in result.stderr, result.describe()
    result = run_cli([*args, "--mqtt-command-rate", "0"], cli_env(cloud_env, rv_home), tmp_path, "bad3", WAIT_S)
    assert result.returncode == 2 and "--mqtt-command-rate" in result.stderr, result.describe()
