"""``pyhik check``: diagnose a real device and say what to change.

Steps, each printed as OK / WARN / FAIL with advice: reachable? which authentication
schemes does it offer (the docs ask for 'digest/basic')? do the credentials work (tried
once: devices lock accounts after a few failures)? which sensors would be created, and
which triggers are configured but do not notify the surveillance center? may the user
open the alert stream (the 'Remote: Notify Surveillance Center/Trigger Alarm Output'
permission)? Exit code 0 only when everything is well.
"""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional, TextIO, Union

from pyhik.errors import (
    AuthenticationError,
    DeviceError,
    DeviceUnreachableError,
    PermissionDeniedError,
    PyhikError,
)
from pyhik.isapi.client import DEFAULT_NOTIFICATION_METHODS, DeviceInfo, IsapiClient
from pyhik.isapi.http import split_host
from pyhik.isapi.models import is_recorder, select_triggers
from pyhik.protocol.events import lookup, unknown
from pyhik.sensors.entities import entity_id_of, sensor_name
from pyhik.state.book import VIDEO_LOSS
from pyhik.stream.device import sensor_channel_of

from .options import device_arguments, password_of, verify_from_args

STREAM_PROBE_TIMEOUT_S = 5.0


class Report:
    """Collects findings and prints them as they come."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.failures = 0
        self.warnings = 0
        self.first_failure: Optional[str] = None

    def ok(self, text: str) -> None:
        print(f"OK    {text}", file=self.out, flush=True)

    def warn(self, text: str, advice: str = "") -> None:
        self.warnings += 1
        print(f"WARN  {text}" + (f"\n      -> {advice}" if advice else ""), file=self.out, flush=True)

    def fail(self, text: str, advice: str = "") -> None:
        self.failures += 1
        if self.first_failure is None:
            self.first_failure = text
        print(f"FAIL  {text}" + (f"\n      -> {advice}" if advice else ""), file=self.out, flush=True)


def run_check(host: Optional[str], port: Optional[int], username: Optional[str],
              password: Optional[str], *, ssl: Optional[bool] = None,
              verify_ssl: Union[bool, str] = True, out: Optional[TextIO] = None,
              errors: Optional[TextIO] = None) -> int:
    """Diagnose one device; 0 when all is well, 1 on any problem or warning.

    ``host`` is read as everywhere (:func:`~pyhik.isapi.http.split_host`: ``cam``,
    ``https://cam:8443``, ``::1``); ``port`` None: 80, or 443 for https. The findings go
    to ``out`` (default: standard output). With ``errors``, the first problem is also
    written there as one line (``pyhik check: ...``), or a one-line summary when there
    are only warnings; not when ``out`` and ``errors`` are both a terminal, where that
    line would only say the same thing twice.
    """
    out = out or sys.stdout
    report = Report(out)
    if not host:
        report.fail("no --host given")
    elif not username or password is None:
        report.fail("no --username/--password given (the password may come from PYHIK_PASSWORD)")
    else:
        try:
            port = split_host(host, port, ssl)[2]
            client = IsapiClient(host, port, username, password, ssl=ssl,
                                 verify_ssl=verify_ssl)
        except PyhikError as err:
            report.fail(str(err))
        else:
            try:
                _check(client, username, report)
            finally:
                client.close()
            summary = ("all is well" if not report.failures and not report.warnings else
                       f"{report.failures} problem(s), {report.warnings} warning(s)")
            print(f"\n{client.base_url}: {summary}", file=out)
    if errors is not None and not (_is_terminal(out) and _is_terminal(errors)):
        if report.first_failure is not None:
            print(f"pyhik check: {report.first_failure}", file=errors, flush=True)
        elif report.warnings:
            print(f"pyhik check: {report.warnings} warning(s), see above", file=errors, flush=True)
    return 0 if not report.failures and not report.warnings else 1


def _is_terminal(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _check(client: IsapiClient, username: str, report: Report) -> None:
    try:
        schemes = client.auth_schemes()
    except DeviceUnreachableError as err:
        report.fail(str(err),
                    "check the address, the port (HTTP is usually 80, HTTPS 443) and that "
                    "the device is on")
        return
    except DeviceError as err:
        report.fail(f"{client.base_url} answered, but not like a Hikvision device: {err}")
        return
    report.ok(f"{client.base_url} is reachable")
    if "digest" in schemes:
        report.ok(f"offers {' and '.join(s.capitalize() for s in schemes)} authentication")
    elif "basic" in schemes:
        report.warn("offers only Basic authentication, not 'digest/basic' as the Home "
                    "Assistant docs require (and the password travels almost in clear)",
                    "set System > Security > Authentication > WEB Authentication to "
                    "'digest/basic' (on every camera behind an NVR too)")
    elif schemes:
        report.warn(f"asks for {', '.join(schemes)} authentication, which pyhik does not "
                    "speak", "set WEB Authentication to 'digest/basic'")
    else:
        report.warn("answers without asking for a login",
                    "set WEB Authentication to 'digest/basic'")

    try:
        info = client.device_info()
    except AuthenticationError as err:
        report.fail(f"login refused: {err}")
        return
    except PermissionDeniedError as err:
        report.fail(f"deviceInfo refused: {err}")
        return
    except DeviceError as err:
        report.fail(f"cannot read deviceInfo: {err}")
        return
    kind = "NVR" if info.is_nvr else "camera"
    report.ok(f"logged in as {username!r}: {kind} {info.name!r}, model {info.model}, "
              f"firmware {info.firmware}, id {info.device_id}")

    _check_triggers(client, info, report)
    _check_stream(client, username, report)


def _check_triggers(client: IsapiClient, info: DeviceInfo, report: Report) -> None:
    try:
        every = client.all_triggers()
    except DeviceError as err:
        report.fail(f"cannot read the event triggers: {err}")
        return
    # The same choice as IsapiClient.triggers, from the one list read here.
    wanted = frozenset(m.lower() for m in DEFAULT_NOTIFICATION_METHODS)
    is_nvr = is_recorder(info, every)
    chosen = set(select_triggers(every, wanted, is_nvr))
    if chosen and not any(t.notifies_by(wanted) for t in chosen):
        report.warn("no trigger notifies the surveillance center; as this is an NVR, its "
                    "triggers with any linkage are used instead",
                    "tick 'Notify Surveillance Center' for the events you want as sensors")
    notifying: List[str] = []
    elsewhere: List[str] = []
    for trigger in every:
        etype = lookup(trigger.event) or unknown(trigger.event)
        channel = sensor_channel_of(trigger)
        if trigger in chosen:
            if etype.code != VIDEO_LOSS:  # the heartbeat: a sensor only on request
                entity = entity_id_of(sensor_name(info.name or client.host, etype, channel,
                                                  is_nvr))
                if entity not in notifying:
                    notifying.append(entity)
        elif trigger.methods:
            elsewhere.append(f"{etype.name} {channel} ({', '.join(sorted(trigger.methods))})")
    if notifying:
        report.ok(f"{len(notifying)} sensor(s) would be created: {', '.join(notifying)}")
    else:
        report.fail("no event is set to 'Notify Surveillance Center': no sensor would be created",
                    "in the device's web page, Configuration > Event > (each event) > "
                    "Linkage Method, tick 'Notify Surveillance Center'")
    if elsewhere:
        report.warn(f"{len(elsewhere)} trigger(s) are linked, but not to the surveillance "
                    f"center, so they give no sensor: {', '.join(elsewhere[:12])}"
                    + (" ..." if len(elsewhere) > 12 else ""),
                    "tick 'Notify Surveillance Center' for those you want as sensors")


def _check_stream(client: IsapiClient, username: str, report: Report) -> None:
    try:
        response = client.open_alert_stream(read_timeout=STREAM_PROBE_TIMEOUT_S)
    except PermissionDeniedError:
        report.fail(f"user {username!r} may not open the alert stream: it needs the "
                    "'Remote: Notify Surveillance Center/Trigger Alarm Output' permission",
                    "give it in User Management, or try an admin account: some devices "
                    "only stream to admins")
        return
    except DeviceError as err:
        report.fail(f"cannot open the alert stream: {err}")
        return
    try:
        ctype = response.headers.get("Content-Type", "")
        if "multipart" in ctype.lower():
            report.ok(f"alert stream opens ({ctype})")
        else:
            report.warn(f"alert stream answered with {ctype or 'no content type'}, not multipart",
                        "this firmware may not stream alerts; update it if you can")
    finally:
        response.close()


def check_arguments(parser: argparse.ArgumentParser) -> None:
    device_arguments(parser, config=False)


def cmd_check(args: argparse.Namespace) -> int:
    return run_check(args.host, args.port, args.username, password_of(args), ssl=args.ssl,
                     verify_ssl=verify_from_args(args), errors=sys.stderr)
