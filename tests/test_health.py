"""Health rules, pure: the Pi firmware's flags and the warnings a technician sees."""

from __future__ import annotations

from panic_edge.core.health import Health, decode_throttled, warnings


def test_the_firmware_bits_decode_by_name():
    flags = decode_throttled(0x50005)
    assert flags["under_voltage_now"] and flags["throttled_now"]
    assert flags["under_voltage_since_boot"] and flags["throttled_since_boot"]
    assert not flags["freq_capped_now"] and not flags["soft_temp_limit_since_boot"]


def test_all_is_well_says_nothing():
    assert warnings(Health(10**10, 0, 10**9, 50.0, decode_throttled(0), (0.1, 0.1, 0.1))) == []


def test_under_voltage_comes_first_and_says_what_to_do():
    found = warnings(Health(disk_free_bytes=10**6, throttled=decode_throttled(0x1)))
    assert found[0].startswith("under-voltage now") and "supply" in found[0]
    assert found[1].startswith("disk nearly full")


def test_under_voltage_since_boot_and_heat_are_reported():
    found = warnings(Health(cpu_temp_c=82.0, throttled=decode_throttled(0x10000)))
    assert any(w.startswith("under-voltage since boot") for w in found)
    assert any(w.startswith("temperature high: 82") for w in found)


def test_a_machine_without_readings_has_no_warnings_and_null_fields():
    body = Health().as_dict()
    assert body["throttled"] is None and body["warnings"] == [] and body["load"] is None


# --- the shell: readings from a folder laid out like / on a Pi ---------------------------------

from pathlib import Path  # noqa: E402

from panic_edge.health import read_health, read_throttled  # noqa: E402


def pi_root(tmp_path: Path, throttled: str, millidegrees: str) -> Path:
    firmware = tmp_path / "sys/devices/platform/soc/soc:firmware"
    firmware.mkdir(parents=True)
    (firmware / "get_throttled").write_text(throttled + "\n")
    thermal = tmp_path / "sys/class/thermal/thermal_zone0"
    thermal.mkdir(parents=True)
    (thermal / "temp").write_text(millidegrees + "\n")
    return tmp_path


def test_a_pi_reports_its_firmware_flags_and_temperature(tmp_path):
    health = read_health(tmp_path, 1234, root=pi_root(tmp_path, "50005", "81234"))
    assert health.throttled is not None and health.throttled["under_voltage_now"]
    assert health.cpu_temp_c == 81.2 and health.archive_bytes == 1234
    assert health.disk_free_bytes and health.memory_available_bytes and health.load is not None
    assert any(w.startswith("under-voltage now") for w in health.as_dict()["warnings"])


def test_a_machine_without_a_pi_firmware_reports_null_flags(tmp_path):
    health = read_health(tmp_path, None, root=tmp_path)
    assert health.throttled is None and health.cpu_temp_c is None


def test_garbage_in_the_firmware_file_is_a_null_reading_not_a_crash(tmp_path):
    health = read_health(tmp_path, None, root=pi_root(tmp_path, "\x00zz", "hot"))
    assert health.throttled is None and health.cpu_temp_c is None


def test_without_the_sysfs_file_the_flags_come_from_vcgencmd(tmp_path):
    # a kernel without the firmware's sysfs node: vcgencmd, a real process, says it
    program = tmp_path / "vcgencmd"
    program.write_text("#!/bin/sh\n[ \"$1\" = get_throttled ] && echo throttled=0x50005\n")
    program.chmod(0o755)
    flags = read_throttled(tmp_path, str(program))
    assert flags is not None and flags["under_voltage_now"] and flags["under_voltage_since_boot"]
    program.write_text("#!/bin/sh\necho 'VCHI initialization failed'\nexit 255\n")
    assert read_throttled(tmp_path, str(program)) is None  # a vcgencmd that cannot reach the firmware
    assert read_throttled(tmp_path, str(tmp_path / "missing")) is None
