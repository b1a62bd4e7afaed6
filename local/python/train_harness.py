"""Runs a SageMaker script-mode training script the way the SKLearn framework container does.

The local SageMaker server lays out a job folder like /opt/ml (input/config/*.json, input/data/<channel>/,
code/, model/, output/) and starts this harness with that folder. Like sagemaker-training-toolkit, it
JSON-decodes the hyperparameters, sets the SM_* environment, and runs the user program as
`python <program> --name value ...` (sagemaker_* keys are framework parameters and are not passed), with
the code folder as working directory. It then replaces itself with the user process (os.execve), so the
server's kill (StopTrainingJob, MaxRuntimeInSeconds) reaches the script directly.

Usage: train_harness.py <job-root> [--print-env]
"""
import json
import multiprocessing
import os
import sys

from parent_watch import die_with_parent

FRAMEWORK_MODULE = "sagemaker_sklearn_container.training:main"


def decode(value):
    """The toolkit's hyperparameter decoding: JSON when it parses, the raw string otherwise."""
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return value


def to_arg_value(value):
    # mapping.to_cmd_args: dicts become k=v,k=v; everything else str() (so True -> "True", 0.1 -> "0.1").
    if hasattr(value, "items"):
        return ",".join("%s=%s" % (k, v) for k, v in sorted(value.items()))
    return str(value)


def to_cmd_args(hps):
    args = []
    for key in sorted(hps):
        args.append(("--%s" if len(key) > 1 else "-%s") % key)
        args.append(to_arg_value(hps[key]))
    return args


def env_value(value):
    return value if isinstance(value, str) else json.dumps(value)


def build(root):
    cfg = os.path.join(root, "input", "config")
    with open(os.path.join(cfg, "hyperparameters.json")) as f:
        raw = json.load(f)
    with open(os.path.join(cfg, "inputdataconfig.json")) as f:
        input_data_config = json.load(f)
    with open(os.path.join(cfg, "resourceconfig.json")) as f:
        resource_config = json.load(f)

    decoded = {k: decode(v) for k, v in raw.items()}
    framework = {k: v for k, v in decoded.items() if k.startswith("sagemaker_")}
    user_hps = {k: v for k, v in decoded.items() if not k.startswith("sagemaker_")}
    program = framework.get("sagemaker_program")
    if not program:
        raise SystemExit("hyperparameter sagemaker_program is required (the script to run, e.g. \"train.py\")")

    code_dir = os.path.join(root, "code")
    channels = sorted(input_data_config.keys())
    user_args = to_cmd_args(user_hps)
    training_env = {
        "channel_input_dirs": {c: os.path.join(root, "input", "data", c) for c in channels},
        "current_host": resource_config.get("current_host", "algo-1"),
        "framework_module": FRAMEWORK_MODULE,
        "hosts": resource_config.get("hosts", ["algo-1"]),
        "hyperparameters": user_hps,
        "input_config_dir": cfg,
        "input_data_config": input_data_config,
        "input_dir": os.path.join(root, "input"),
        "is_master": True,
        "job_name": os.environ.get("TRAINING_JOB_NAME", ""),
        "log_level": 20,
        "model_dir": os.path.join(root, "model"),
        "module_dir": framework.get("sagemaker_submit_directory", code_dir),
        "module_name": program[:-3] if program.endswith(".py") else program,
        "network_interface_name": resource_config.get("network_interface_name", "eth0"),
        "num_cpus": multiprocessing.cpu_count(),
        "num_gpus": 0,
        "output_data_dir": os.path.join(root, "output", "data"),
        "output_dir": os.path.join(root, "output"),
        "output_intermediate_dir": os.path.join(root, "output", "intermediate"),
        "resource_config": resource_config,
        "user_entry_point": program,
    }
    env = {
        "SM_HOSTS": json.dumps(training_env["hosts"]),
        "SM_NETWORK_INTERFACE_NAME": training_env["network_interface_name"],
        "SM_HPS": json.dumps(user_hps),
        "SM_USER_ENTRY_POINT": program,
        "SM_FRAMEWORK_PARAMS": json.dumps({k: v for k, v in framework.items() if k not in (
            "sagemaker_program", "sagemaker_submit_directory", "sagemaker_region",
            "sagemaker_container_log_level", "sagemaker_job_name")}),
        "SM_RESOURCE_CONFIG": json.dumps(resource_config),
        "SM_INPUT_DATA_CONFIG": json.dumps(input_data_config),
        "SM_OUTPUT_DATA_DIR": training_env["output_data_dir"],
        "SM_CHANNELS": json.dumps(channels),
        "SM_CURRENT_HOST": training_env["current_host"],
        "SM_MODULE_NAME": training_env["module_name"],
        "SM_LOG_LEVEL": "20",
        "SM_FRAMEWORK_MODULE": FRAMEWORK_MODULE,
        "SM_INPUT_DIR": training_env["input_dir"],
        "SM_INPUT_CONFIG_DIR": cfg,
        "SM_OUTPUT_DIR": training_env["output_dir"],
        "SM_NUM_CPUS": str(training_env["num_cpus"]),
        "SM_NUM_GPUS": "0",
        "SM_MODEL_DIR": training_env["model_dir"],
        "SM_MODULE_DIR": training_env["module_dir"],
        "SM_OUTPUT_INTERMEDIATE_DIR": training_env["output_intermediate_dir"],
        "SM_USER_ARGS": json.dumps(user_args),
        "SM_TRAINING_ENV": json.dumps(training_env),
        "PYTHONUNBUFFERED": "1",
    }
    for c in channels:
        env["SM_CHANNEL_%s" % c.upper()] = training_env["channel_input_dirs"][c]
    for k, v in user_hps.items():
        env["SM_HP_%s" % k.upper()] = env_value(v)
    pythonpath = os.environ.get("PYTHONPATH")
    env["PYTHONPATH"] = code_dir + (os.pathsep + pythonpath if pythonpath else "")
    return code_dir, program, user_args, env


def main(argv):
    die_with_parent()
    if len(argv) < 2:
        raise SystemExit("usage: train_harness.py <job-root> [--print-env]")
    root = os.path.abspath(argv[1])
    code_dir, program, user_args, env = build(root)
    for d in ("model", os.path.join("output", "data"), os.path.join("output", "intermediate")):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    if "--print-env" in argv[2:]:
        print(json.dumps({"cwd": code_dir, "argv": [program] + user_args, "env": env}))
        return
    if os.path.isfile(os.path.join(code_dir, "requirements.txt")):
        # The toolkit would pip-install it; locally there is no PyPI, so the interpreter's packages are used.
        print("relearn local: requirements.txt is not installed locally (no PyPI); using %s's packages" % sys.executable, flush=True)
    script = os.path.join(code_dir, program)
    if not os.path.isfile(script):
        raise SystemExit("sagemaker_program %r not found in the submitted code (%s)" % (program, code_dir))
    full_env = dict(os.environ)
    full_env.update(env)
    os.chdir(code_dir)
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, program] + user_args, full_env)


if __name__ == "__main__":
    main(sys.argv)
