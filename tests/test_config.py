"""Configuration: TOML file, environment overrides, and errors that name the key and file."""

from __future__ import annotations

from pathlib import Path

import pytest

from panic_edge.config import load_config
from panic_edge.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent


def test_defaults_need_no_file():
    config = load_config(None, {})
    assert config.mqtt.url == "mqtt://127.0.0.1:1883"
    assert config.default_network == "demo"
    assert config.data_dir == Path("~/.local/share/panic-edge").expanduser()


def test_the_example_config_loads_and_finds_its_networks():
    config = load_config(REPO / "config" / "panic-edge.toml", {})
    assert config.appliance_id == "panic-1"
    assert config.networks_dir == REPO / "config" / "networks"


def test_the_example_configs_commented_gallery_day_is_valid_once_uncommented(tmp_path: Path):
    text = (REPO / "config" / "panic-edge.toml").read_text()
    head, marker, block = text.partition("# --- a gallery's day")
    assert marker, "the example config lost its gallery's day block"
    lines = block.splitlines()[1:]
    assert all(line.startswith("#") for line in lines if line.strip())
    uncommented = tmp_path / "panic-edge.toml"
    uncommented.write_text(head.replace('networks_dir = "networks"', f'networks_dir = "{REPO / "config" / "networks"}"')
                           + "\n".join(line.removeprefix("#").removeprefix(" ") for line in lines) + "\n")
    config = load_config(uncommented, {})
    assert config.schedule.hours[2] == "sun 10:00-12:00, 14:00-17:00" and config.schedule.timezone
    assert config.archive.max_bytes == 8 * 1024**3 and config.budget.networks == {"finetune-friday": 10.0}
    assert (config.health.interval, config.boards.update_seconds, config.boards.prompt_seconds) == (30, 8, 10)
    [gallery] = config.installations
    assert [(s.name, s.kind) for s in gallery.screens] == [
        ("lobby-left", "single"), ("wall", "grid"), ("board-1", "vestaboard"), ("sound", "speaker")]


def test_the_named_environment_variables_override_the_file(tmp_path: Path):
    file = tmp_path / "c.toml"
    file.write_text('appliance_id = "from-file"\n[mqtt]\nurl = "mqtt://10.0.0.1:1883"\n')
    config = load_config(file, {"PANIC_EDGE_DATA_DIR": str(tmp_path / "d"),
                                "PANIC_EDGE_MQTT_URL": "mqtt://127.0.0.1:1999",
                                "PANIC_EDGE_APPLIANCE_ID": "from-env", "PANIC_EDGE_HTTP_PORT": "9000",
                                "PANIC_EDGE_BUTTON_PIN": "22"})
    assert (config.appliance_id, config.mqtt.port, config.http.port, config.button.pin) == (
        "from-env", 1999, 9000, 22)
    assert config.data_dir == tmp_path / "d"


def test_systemd_state_directory_is_the_default_data_dir():
    assert load_config(None, {"STATE_DIRECTORY": "/var/lib/panic-edge"}).data_dir == Path("/var/lib/panic-edge")


def test_an_unknown_key_is_named_with_its_file(tmp_path: Path):
    file = tmp_path / "c.toml"
    file.write_text('[mqtt]\nurll = "mqtt://x:1"\n[button]\npin = "seventeen"\n')
    with pytest.raises(ConfigError) as err:
        load_config(file, {})
    message = str(err.value)
    assert f"mqtt.urll ({file}): is not a known key" in message
    assert f"button.pin ({file})" in message  # both problems, at once


def test_a_bad_environment_value_names_the_variable():
    with pytest.raises(ConfigError, match=r"mqtt.url \(\$PANIC_EDGE_MQTT_URL\): must look like mqtt://"):
        load_config(None, {"PANIC_EDGE_MQTT_URL": "http://broker"})


def test_broken_toml_is_a_config_error(tmp_path: Path):
    file = tmp_path / "c.toml"
    file.write_text("appliance_id = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(file, {})


def test_the_mqtt_password_is_never_shown():
    config = load_config(None, {"PANIC_EDGE_MQTT_PASSWORD": "hunter2"})
    assert "hunter2" not in repr(config) and "hunter2" not in str(config.model_dump())
    assert config.mqtt.password.get_secret_value() == "hunter2"


def test_a_password_in_the_mqtt_url_is_refused_without_repeating_it():
    # paho would ignore it (connecting anonymously) and the URL is logged: refuse, never echo
    with pytest.raises(ConfigError, match=r"mqtt.url .*must not carry a username or password") as refused:
        load_config(None, {"PANIC_EDGE_MQTT_URL": "mqtt://panic:hunter2@127.0.0.1:1883"})
    assert "hunter2" not in str(refused.value)


def test_insight_model_folders_are_relative_to_the_config_file(tmp_path: Path):
    file = tmp_path / "c.toml"
    file.write_text('[insight]\nmodel_dir = "models/potion"\nimage_model_dir = "/opt/clip"\nwindow = 300\n')
    config = load_config(file, {})
    assert config.insight.model_dir == tmp_path / "models" / "potion"
    assert config.insight.image_model_dir == Path("/opt/clip") and config.insight.window == 300
    with pytest.raises(ConfigError, match=r"insight\.window"):
        load_config(None, {"PANIC_EDGE_INSIGHT_WINDOW": "2"})


# --- weeks unattended: archive, schedule, budget ----------------------------------------------

def test_sizes_take_units_a_technician_types():
    config = load_config(None, {"PANIC_EDGE_ARCHIVE_MAX_BYTES": "4GB", "PANIC_EDGE_ARCHIVE_MIN_FREE_BYTES": "500 MB"})
    assert config.archive.max_bytes == 4 * 1024**3 and config.archive.min_free_bytes == 500 * 1024**2


def test_opening_hours_and_timezone_are_checked_when_the_config_loads():
    import pytest

    from panic_edge.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        load_config(None, {"PANIC_EDGE_SCHEDULE_HOURS": "someday 10:00-12:00",
                           "PANIC_EDGE_SCHEDULE_TIMEZONE": "Mars/Olympus", "PANIC_EDGE_ARCHIVE_MAX_BYTES": "lots"})
    text = str(err.value)
    assert "schedule.hours ($PANIC_EDGE_SCHEDULE_HOURS)" in text and "someday" in text
    assert "Mars/Olympus" in text and "archive.max_bytes" in text
