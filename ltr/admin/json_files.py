"""Reading the JSON files the package writes and users may edit (synthetic.json, network.json,
onnx.json, experiment records): one reader, one error naming the file."""
import json
import os
from typing import Type, Union


def read_json_object(path: Union[str, os.PathLike], error: Type[Exception] = ValueError) -> dict:
    """The JSON object in `path`; `error` (a ValueError subclass by default) naming the file and the
    line and column of the fault when it is not UTF-8 JSON or not an object."""
    try:
        with open(path, encoding='utf-8') as handle:
            value = json.load(handle)
    except json.JSONDecodeError as err:
        raise error(f"{path} is not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})") from None
    except UnicodeDecodeError as err:
        raise error(f"{path} is not UTF-8 text ({err.reason} at byte {err.start})") from None
    if not isinstance(value, dict):
        raise error(f"{path} must hold a JSON object, not {type(value).__name__}")
    return value
