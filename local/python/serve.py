"""Serves a model the way the SageMaker scikit-learn serving container does.

Imports the user's program module from the code folder, calls model_fn(model_dir) once, and answers
GET /ping and POST /invocations through input_fn / predict_fn / output_fn, falling back to the
container's defaults (numpy decoding of JSON/CSV/NPY, model.predict, encoding to the Accept type)
when the module lacks one. The local SageMaker server starts one of these per endpoint and reads the
port from the line `RELEARN_SERVING_PORT <port>` on stdout, printed once the model has loaded.

Error mapping (a relearn choice, see docs/local-sagemaker.md): an unsupported content type -> 415;
a ValueError (or subclass) raised while decoding the request (input_fn) -> 400 with its message;
anything else -> 500 with the message. The response body is the message as text/plain.

The code: --code-dir when the local server downloaded it (an s3:// SAGEMAKER_SUBMIT_DIRECTORY). Otherwise it is in the
model, where SAGEMAKER_SUBMIT_DIRECTORY says: /opt/ml/model/code (the SageMaker Python SDK's repack, relearn's
PackageModel) is <model-dir>/code, as the container finds it under /opt/ml/model once SageMaker has extracted the
archive; unset means <model-dir>/code too.

Usage: serve.py --model-dir DIR [--code-dir DIR] --program train.py [--port 0]
"""
import argparse
import importlib.util
import io
import json
import os
import sys
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

from parent_watch import die_with_parent

UTF8_TYPES = ("application/json", "text/csv")


class UnsupportedFormatError(Exception):
    def __init__(self, content_type):
        super().__init__("Content type %s is not supported by this framework." % content_type)


class ClientInputError(Exception):
    """A ValueError raised by input_fn: the request is bad, answer 400."""


def decode(data, content_type):
    if content_type == "application/json":
        return np.array(json.loads(data))
    if content_type == "text/csv":
        return np.genfromtxt(io.StringIO(data), delimiter=",", ndmin=2)
    if content_type == "application/x-npy":
        return np.load(io.BytesIO(data), allow_pickle=False)
    raise UnsupportedFormatError(content_type)


def encode(prediction, accept):
    arr = np.asarray(prediction)
    if accept == "application/json":
        return json.dumps(arr.tolist())
    if accept == "text/csv":
        if arr.ndim <= 1:
            arr = arr.reshape(-1, 1)
        out = io.StringIO()
        np.savetxt(out, arr, delimiter=",", fmt="%s")
        return out.getvalue()
    if accept == "application/x-npy":
        out = io.BytesIO()
        np.save(out, arr)
        return out.getvalue()
    raise UnsupportedFormatError(accept)


def default_model_fn(model_dir):
    raise NotImplementedError(
        "model_fn implementation is required to load a scikit-learn model: define model_fn(model_dir) "
        "in the entry point script")


def default_input_fn(input_data, content_type):
    arr = decode(input_data, content_type)
    return arr.astype(np.float32) if content_type in UTF8_TYPES else arr


def default_predict_fn(input_data, model):
    return model.predict(input_data)


def default_output_fn(prediction, accept):
    return encode(prediction, accept), accept


MODEL_DIR = "/opt/ml/model"


def code_dir_in_model(model_dir, submit_directory):
    """Where SAGEMAKER_SUBMIT_DIRECTORY points inside the model (this instance's /opt/ml/model is model_dir)."""
    if not submit_directory:
        return os.path.join(model_dir, "code")
    if submit_directory == MODEL_DIR or submit_directory.startswith(MODEL_DIR + "/"):
        return os.path.join(model_dir, submit_directory[len(MODEL_DIR):].lstrip("/"))
    raise ValueError("SAGEMAKER_SUBMIT_DIRECTORY %r is neither in the model (%s/...) nor downloaded (--code-dir)"
                     % (submit_directory, MODEL_DIR))


def load_module(code_dir, program):
    sys.path.insert(0, code_dir)
    name = program[:-3] if program.endswith(".py") else program
    path = os.path.join(code_dir, name + ".py")
    if not os.path.isfile(path):
        raise FileNotFoundError("SAGEMAKER_PROGRAM %r not found in %s" % (program, code_dir))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def main():
    die_with_parent()
    p = argparse.ArgumentParser()
    p.add_argument("--model-dir", required=True)
    p.add_argument("--code-dir")
    p.add_argument("--program", required=True)
    p.add_argument("--port", type=int, default=0)
    a = p.parse_args()

    fault = os.environ.get("RELEARN_FAIL_LOAD")
    if fault:
        raise RuntimeError(fault)
    os.environ.setdefault("SM_MODEL_DIR", a.model_dir)
    code_dir = a.code_dir or code_dir_in_model(a.model_dir, os.environ.get("SAGEMAKER_SUBMIT_DIRECTORY"))
    if not os.path.isdir(code_dir):
        raise FileNotFoundError("SAGEMAKER_SUBMIT_DIRECTORY %s: no such folder in the model (it holds %s)"
                                % (os.environ.get("SAGEMAKER_SUBMIT_DIRECTORY"), sorted(os.listdir(a.model_dir))))
    module = load_module(code_dir, a.program)
    model_fn = getattr(module, "model_fn", default_model_fn)
    input_fn = getattr(module, "input_fn", default_input_fn)
    predict_fn = getattr(module, "predict_fn", default_predict_fn)
    output_fn = getattr(module, "output_fn", default_output_fn)
    model = model_fn(a.model_dir)
    default_accept = os.environ.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", "application/json")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out as two writes: without TCP_NODELAY, Nagle + delayed ACK add ~40 ms a request.
        disable_nagle_algorithm = True

        def log_message(self, fmt, *args):
            sys.stderr.write("%s\n" % (fmt % args))

        def reply(self, status, body, content_type):
            if isinstance(body, str):
                body = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path == "/ping":
                self.reply(200, "", "text/plain")
            else:
                self.reply(404, "not found", "text/plain")

        def do_POST(self):
            if self.path != "/invocations":
                self.reply(404, "not found", "text/plain")
                return
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            content_type = (self.headers.get("Content-Type") or "application/json").split(";")[0].strip()
            accept = (self.headers.get("Accept") or "").split(",")[0].split(";")[0].strip()
            if accept in ("", "*/*"):
                accept = default_accept
            try:
                data = raw.decode("utf-8") if content_type in UTF8_TYPES else raw
                try:
                    features = input_fn(data, content_type)
                except ValueError as e:
                    raise ClientInputError(str(e)) from e
                prediction = predict_fn(features, model)
                result = output_fn(prediction, accept)
                if isinstance(result, tuple):
                    body, mimetype = result[0], result[1]
                else:
                    body, mimetype = result, accept
                self.reply(200, body, mimetype)
            except UnsupportedFormatError as e:
                self.reply(415, str(e), "text/plain")
            except ClientInputError as e:
                self.reply(400, str(e), "text/plain")
            except Exception as e:  # noqa: BLE001 - every other failure is the model's 500
                traceback.print_exc()
                self.reply(500, "%s: %s" % (type(e).__name__, e), "text/plain")

    server = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    print("RELEARN_SERVING_PORT %d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
