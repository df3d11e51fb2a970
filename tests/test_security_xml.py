"""No device document, in any encoding, gets a DTD or an entity past pyhik's XML parsing.

The old guards looked for ``<!DOCTYPE`` in the raw bytes (or in a decoded copy taken before
control characters were stripped): a UTF-16 body without a BOM, or ``<!DOC\\x01TYPE``,
went past them and expat read the DTD, expanding ``&b;`` in a deviceInfo. Every parse now
goes through defusedxml, which refuses the DTD wherever expat meets it.
"""

from __future__ import annotations

import http.server
import logging
import threading
from typing import Iterator

import pytest

from pyhik.errors import UnsupportedDeviceError
from pyhik.isapi.client import IsapiClient
from pyhik.isapi.models import parse_device_info, parse_xml
from pyhik.protocol.alerts import parse_alert
from pyhik.protocol.multipart import MultipartFramer
from pyhik.protocol.templates import AlertParser

INJECTED = "INJECTED-BY-ENTITY"
NS = "http://www.hikvision.com/ver20/XMLSchema"

DEVICE_INFO = (f'<!DOCTYPE DeviceInfo [<!ENTITY b "{INJECTED}">]>'
               f'<DeviceInfo version="2.0" xmlns="{NS}"><deviceName>&b;</deviceName>'
               "<deviceID>abc</deviceID><model>DS-2CD2155FWD-I</model>"
               "<deviceType>IPCamera</deviceType></DeviceInfo>")
CLEAN_INFO = DEVICE_INFO.split("]>", 1)[1].replace("&b;", "Front")
ALERT = (f'<!DOCTYPE EventNotificationAlert [<!ENTITY b "{INJECTED}">]>'
         f'<EventNotificationAlert version="2.0" xmlns="{NS}"><channelID>1</channelID>'
         "<dateTime>2024-01-01T00:00:00+00:00</dateTime><activePostCount>1</activePostCount>"
         "<eventType>VMD</eventType><eventState>active</eventState>"
         "<channelName>&b;</channelName></EventNotificationAlert>")
CLEAN_ALERT = ALERT.split("]>", 1)[1].replace("&b;", "Porch")
DECL = '<?xml version="1.0" encoding="{}"?>'

# (codec, declared encoding or None): UTF-16 without a BOM is the bypass of the old guard.
ENCODINGS = [("utf-16-le", None), ("utf-16-le", "UTF-16"), ("utf-16-be", None),
             ("utf-16", "UTF-16"), ("utf-8", None), ("utf-8", "UTF-8")]


def encode(doc: str, codec: str, declared: object) -> bytes:
    return ((DECL.format(declared) if declared else "") + doc).encode(codec)


@pytest.mark.parametrize("codec,declared", ENCODINGS)
def test_a_device_info_with_an_entity_is_refused_in_any_encoding(codec, declared, caplog):
    with caplog.at_level(logging.WARNING, logger="pyhik.isapi.models"):
        assert parse_xml(encode(DEVICE_INFO, codec, declared)) is None
    assert "Refused" in caplog.text


@pytest.mark.parametrize("codec,declared", ENCODINGS)
def test_a_clean_device_info_still_parses_in_any_encoding(codec, declared):
    root = parse_xml(encode(CLEAN_INFO, codec, declared))
    assert root is not None
    info = parse_device_info(root)
    assert info is not None and info.name == "Front" and info.device_id == "abc"


@pytest.mark.parametrize("doc", [
    # billion laughs
    '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">'
    '<!ENTITY c "&b;&b;&b;&b;">]><ResponseStatus><statusString>&c;</statusString>'
    "</ResponseStatus>",
    # external entity (a local file), and an external DTD
    '<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/hostname">]><DeviceInfo>'
    "<deviceName>&x;</deviceName></DeviceInfo>",
    '<!DOCTYPE d SYSTEM "http://127.0.0.1:9/d.dtd"><DeviceInfo><deviceName>x</deviceName>'
    "</DeviceInfo>",
    # a DTD without any entity is refused as well: no device sends one
    "<!DOCTYPE DeviceInfo><DeviceInfo><deviceName>x</deviceName></DeviceInfo>",
])
@pytest.mark.parametrize("codec", ["utf-8", "utf-16-le"])
def test_other_dtd_attacks_are_refused(doc, codec):
    assert parse_xml(doc.encode(codec)) is None


class _OneDocument(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def serve() -> Iterator:
    servers = []

    def start(body: bytes) -> int:
        handler = type("Handler", (_OneDocument,), {"body": body})
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        httpd.daemon_threads = True
        thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        servers.append((httpd, thread))
        return httpd.server_address[1]

    yield start
    for httpd, thread in servers:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def test_the_client_refuses_a_utf16_device_info_with_an_entity(serve):
    port = serve(DEVICE_INFO.encode("utf-16-le"))  # no BOM, no declaration
    with IsapiClient("127.0.0.1", port, timeout=5) as client:
        with pytest.raises(UnsupportedDeviceError) as caught:
            client.device_info()
    assert INJECTED not in str(caught.value)


@pytest.mark.parametrize("codec,declared", ENCODINGS)
def test_an_alert_with_an_entity_is_skipped_in_any_encoding(codec, declared, caplog):
    body = encode(ALERT, codec, declared)
    with caplog.at_level(logging.WARNING, logger="pyhik.protocol.alerts"):
        assert parse_alert(body) is None
        parser = AlertParser()
        assert [parser.parse(body) for _ in range(3)] == [None, None, None]
    assert "DOCTYPE/ENTITY declarations are refused" in caplog.text


def test_control_characters_cannot_hide_a_doctype_from_the_repair_path():
    hidden = ALERT.replace("DOCTYPE", "DOC\x01TYPE").replace("ENTITY", "ENT\x01ITY").encode()
    assert parse_alert(hidden) is None


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be", "utf-16"])
def test_a_clean_utf16_alert_still_parses(codec):
    alert = parse_alert(CLEAN_ALERT.encode(codec))
    assert alert is not None and alert.channel_name == "Porch" and alert.event == "VMD"


def test_a_refused_alert_part_is_skipped_and_the_stream_goes_on():
    evil = ALERT.encode("utf-16-le")
    parts = [evil, CLEAN_ALERT.encode(), evil, CLEAN_ALERT.replace("active<", "inactive<")
             .encode()]
    stream = b"".join(b"--b\r\nContent-Type: application/xml\r\nContent-Length: %d\r\n\r\n%s\r\n"
                      % (len(part), part) for part in parts) + b"--b--\r\n"
    framer = MultipartFramer("multipart/mixed; boundary=b")
    parser = AlertParser()
    alerts = [parser.parse(part.body, part.content_type)
              for part in [*framer.feed(stream), *framer.close()]]
    assert len(alerts) == 4
    assert alerts[0] is None and alerts[2] is None
    assert [(a.event, a.state, a.channel_name) for a in alerts[1::2]] == [
        ("VMD", "active", "Porch"), ("VMD", "inactive", "Porch")]
