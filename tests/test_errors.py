"""Tests for pyhik.errors: the exception tree callers rely on."""

from __future__ import annotations

import pytest
import requests

from pyhik import errors

DEVICE_ERRORS = [errors.DeviceError, errors.AuthenticationError, errors.PermissionDeniedError,
                 errors.DeviceUnreachableError, errors.UnsupportedDeviceError,
                 errors.RedirectError]


@pytest.mark.parametrize("cls", DEVICE_ERRORS)
def test_device_errors_are_request_exceptions(cls):
    err = cls("camera.local: something")
    assert isinstance(err, requests.exceptions.RequestException)
    assert isinstance(err, errors.PyhikError) and isinstance(err, errors.DeviceError)
    assert str(err) == "camera.local: something"  # not "[Errno ...]": one message argument
    with pytest.raises(requests.exceptions.RequestException):
        raise err


def test_device_error_carries_the_response():
    response = requests.Response()
    response.status_code = 403
    err = errors.PermissionDeniedError("no", response=response)
    assert err.response is response


def test_redirect_error_keeps_the_location():
    err = errors.RedirectError("cam: HTTP 302 to http://elsewhere/", location="http://elsewhere/")
    assert err.location == "http://elsewhere/"
    assert errors.RedirectError("cam: HTTP 302 without a Location").location is None


def test_config_error_is_a_value_error_not_a_request_exception():
    err = errors.ConfigError("bad port")
    assert isinstance(err, ValueError) and isinstance(err, errors.PyhikError)
    assert not isinstance(err, requests.exceptions.RequestException)
