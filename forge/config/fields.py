"""The forge.yaml fields: one typed, documented definition each.

Every other view of the config is derived from these dataclasses: the JSON Schema used to
validate forge.yaml, the commented template `forge init` writes, the reference in docs/config.md
(`forge config docs`) and the help text of CLI options that default to a field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


def doc(text: str, default=None, *, factory=None, **bounds):
    """A dataclass field carrying its documentation and JSON-Schema bounds."""
    meta = {"doc": text, "bounds": bounds}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class ModelSection:
    """The base model that is fine-tuned."""

    base: str = doc(
        "HF model id or local directory (relative to the project) of the base model.",
        "unsloth/functiongemma-270m-it",
        minLength=1,
    )
    max_seq_len: int = doc(
        "Longest tokenized example, in tokens; longer ones are truncated.", 2048, minimum=16, maximum=131072
    )
    load_in_4bit: bool = doc(
        "Load the base in 4-bit (QLoRA). Honoured on CUDA only; ignored with a warning elsewhere.", True
    )


@dataclass
class LoraSection:
    """LoRA adapter shape (used when training.method is lora)."""

    r: int = doc("LoRA rank.", 32, minimum=1, maximum=1024)
    alpha: int = doc("LoRA alpha (scaling = alpha / r).", 32, minimum=1, maximum=4096)
    dropout: float = doc(
        "Dropout on the LoRA branch. 0 by default: any dropout costs ~20% of training speed on CPU "
        "(docs/benchmarks.md) and Unsloth's fast path takes 0; 0.05-0.1 can help a small training set that overfits.",
        0.0,
        minimum=0,
        exclusiveMaximum=1,
    )
    target_modules: list[str] = doc(
        "Names of the linear modules that get adapters.",
        factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        minItems=1,
        maxItems=64,
    )


@dataclass
class TrainingSection:
    """Supervised fine-tuning on the training set (dataset.canonical)."""

    method: Literal["lora", "full", "grpo"] = doc(
        "lora trains an adapter on a frozen base; full updates every weight (needed for a randomly initialised tiny "
        "base); grpo continues the best LoRA adapter with reinforcement learning, the project's scorer as the reward "
        "(the grpo section; forge.training.grpo).",
        "lora",
    )
    epochs_min: int = doc("Epochs always trained.", 2, minimum=1, maximum=100)
    epochs_max: int = doc(
        "Training continues past epochs_min up to this while the loss still improves by more than loss_tolerance.",
        4,
        minimum=1,
        maximum=100,
    )
    loss_tolerance: float = doc(
        "Relative epoch-over-epoch loss improvement below which training stops after epochs_min.",
        0.01,
        minimum=0,
        maximum=1,
    )
    warm_start: Literal["best", "none"] = doc(
        "best: continue from the promoted best adapter on the examples added since it was trained plus a replay "
        "sample of the older ones, so an iteration costs what was added, not the whole set (forge.training."
        "warm_start); a fresh adapter when there is no best, its base, method or LoRA shape differs, or nothing "
        "was added. none: a fresh adapter on the whole training set every time.",
        "best",
    )
    replay_ratio: float = doc(
        "In a warm start, older examples replayed per new example (against forgetting).", 1.0, minimum=0, maximum=20
    )
    replay_max: int = doc(
        "In a warm start, the most older examples replayed: bounds an iteration's cost.", 400, minimum=0, maximum=100000
    )
    warm_lr_scale: float = doc(
        "In a warm start, the learning rate is training.learning_rate times this: the "
        "adapter is already near a good point.",
        0.5,
        exclusiveMinimum=0,
        maximum=1,
    )
    report_to: Literal["tensorboard", "mlflow", "none"] = doc(
        "Where training logs go: tensorboard (event files in output/tb/<iteration>/; open them with "
        "`tensorboard --logdir output/tb`), mlflow (its own MLFLOW_TRACKING_URI; pip install mlflow) or none.",
        "tensorboard",
    )
    val_fraction: float = doc(
        "Fraction of the training set held out as a validation set (chosen by a hash of each user message: stable as "
        "the set grows; never gold). Gives a validation loss per epoch, and early stopping then watches it instead of "
        "the training loss. 0 disables.",
        0.0,
        minimum=0,
        maximum=0.5,
    )
    batch_size: int = doc("Examples per device step.", 4, minimum=1, maximum=4096)
    tokens_per_batch: int | None = doc(
        "Batches by tokens instead of examples: each device step takes examples of similar length up to this many "
        "tokens, padding included, so a step of long conversations holds few and one of short answers many "
        "(replaces batch_size; not on Unsloth). Unset: batch_size examples a step.",
        None,
        minimum=16,
        maximum=10_000_000,
    )
    max_memory_gb: float | None = doc(
        "Memory that training and eval may use, in GB (RAM on CPU, GPU memory on CUDA). Training splits each step "
        "into micro-batches that fit (same effective batch, same loss) and turns on activation checkpointing when "
        "one example needs it (not on Unsloth, which manages its own); eval sizes its batches by it. Unset: 85% of "
        "what is free when the command starts.",
        None,
        exclusiveMinimum=0,
        maximum=100_000,
    )
    learn_turns: Literal["all", "last"] = doc(
        "The assistant turns of a multi-turn conversation that training learns: all (each turn is an answer the task "
        "wants given the conversation so far, so a conversation teaches as many answers as it has turns) or last "
        "(the earlier turns are context you do not want taught, e.g. another model's replies).",
        "all",
    )
    gradient_accumulation_steps: int = doc(
        "Steps accumulated before each optimizer update.", 1, minimum=1, maximum=1024
    )
    learning_rate: float = doc("Peak learning rate.", 5e-5, exclusiveMinimum=0, maximum=1)
    warmup_ratio: float = doc(
        "Fraction of the optimizer steps spent warming up (converted to steps).", 0.1, minimum=0, maximum=1
    )
    weight_decay: float = doc("AdamW weight decay.", 0.01, minimum=0, maximum=1)
    lr_scheduler: Literal["cosine", "linear", "constant"] = doc("Learning-rate schedule after warm-up.", "cosine")
    seed: int = doc("Random seed; training on CPU is reproducible for a fixed seed.", 42, minimum=0, maximum=2**31 - 1)
    precision: Literal["auto", "fp32", "bf16"] = doc(
        "auto: bf16 for LoRA on a CPU with native bf16 (avx512_bf16 or amx_bf16), else fp32 on CPU; on CUDA the "
        "backend's own choice. bf16: autocast to bfloat16 with each LoRA sum kept in fp32, so it learns as fp32 does "
        "(docs/benchmarks.md measures it). fp32: full precision on CPU; on CUDA the "
        "backend's own choice.",
        "auto",
    )


@dataclass
class GrpoSection:
    """GRPO (training.method grpo): sampled answers to training prompts, rewarded by the project's scorer."""

    steps: int = doc("Optimizer steps of one GRPO run.", 60, minimum=1, maximum=100000)
    generations: int = doc(
        "Answers sampled per prompt: the group whose rewards are compared.", 4, minimum=2, maximum=64
    )
    prompts_per_step: int = doc(
        "Training prompts per step, each sampled grpo.generations times.", 2, minimum=1, maximum=256
    )
    learning_rate: float = doc(
        "Learning rate during GRPO (lower than SFT's: the policy starts good).", 1e-5, exclusiveMinimum=0, maximum=1
    )
    beta: float = doc("KL coefficient to the starting policy; 0 drops the term.", 0.04, minimum=0, maximum=10)
    temperature: float = doc(
        "Sampling temperature (the group needs different answers to learn from).", 1.0, exclusiveMinimum=0, maximum=2
    )
    max_completion_tokens: int = doc("Length limit of each sampled answer.", 64, minimum=1, maximum=4096)
    checkpoint_steps: int = doc(
        "A checkpoint every this many steps (`forge train --resume`).", 10, minimum=1, maximum=100000
    )
    from_base: bool = doc("Start from a fresh adapter on model.base instead of the promoted best model.", False)


@dataclass
class EvalSection:
    """Evaluation on the locked gold set."""

    target_accuracy: float = doc("Gold accuracy at which the agent stops.", 0.95, exclusiveMinimum=0, maximum=1)
    scorer: Literal["exact", "json_cmd", "json_match", "call", "custom", "judge"] = doc(
        "exact: case-sensitive string match; json_cmd: JSON `cmd` fields equal; json_match: whole JSON equal "
        "(key order ignored); call: a function call, `cmd` (or `name`) and every argument equal by value and type, "
        "each wrong field named; custom: score(expected, actual) from the project's scorer.py; judge: an LLM judge "
        "(eval.judge_model) decides whether the answer is correct for the input given the expected answer, under "
        "eval.judge_rubric (calibrate it: `forge judge calibrate`).",
        "json_cmd",
    )
    output_schema: str | None = doc(
        "JSON Schema file (relative to the project) every answer must keep: training-set writes reject answers "
        "outside it, eval/predict/chat decode under it, the GGUF export ships it as a grammar, and an answer "
        "outside it is wrong. null: no contract.",
        None,
        minLength=1,
    )
    constrained: Literal["auto", True, False] = doc(
        "Decode under eval.output_schema in eval, the baseline, predict, chat and probe: auto means whenever a "
        "schema is set.",
        "auto",
    )
    tool_choice: Literal["auto", "required", "none"] = doc(
        "What a turn of an example with tools may answer: auto (one call, several, or a text reply where no function "
        "fits), required (at least one call), none (a text reply). Decoding, training-set checks and scoring keep "
        "it; an example's own `tool_choice` key overrides it.",
        "auto",
    )
    compare_free: bool = doc(
        "Every eval under the schema also scores free decoding on the gold set (twice the eval "
        "time), so each iteration's record shows what the contract buys.",
        False,
    )
    ignore_fields: list[str] = doc(
        "Answer fields the call scorer skips (e.g. confidence); dotted for nested ones.", factory=list, maxItems=100
    )
    custom_threshold: float = doc(
        "A custom scorer's score at or above which an answer counts as correct.", 1.0, minimum=0, maximum=1
    )
    judge_rubric: str = doc(
        "The project's own grading rule for the judge scorer, added to prompts/eval_judge.md (what counts as the "
        "same answer: paraphrase, units, extra detail).",
        "",
        maxLength=20000,
    )
    judge_model: str | None = doc("Claude model of the judge scorer; null: datagen.model.", None, minLength=1)
    judge_batch_threshold: int = doc(
        "Answers to judge at or above which the judge goes through the Message Batches API (half price, minutes "
        "of latency); below, concurrent requests (llm.concurrency). Never with llm.base_url (local servers have no "
        "batches).",
        200,
        minimum=1,
    )
    teacher_shots: int = doc(
        "Training examples shown to the teacher (`forge eval --teacher`) as worked examples; never gold or "
        "sealed ones.",
        8,
        minimum=0,
        maximum=200,
    )
    max_new_tokens: int = doc("Generation length limit per answer.", 256, minimum=1, maximum=32768)
    batch_size: int = doc("Prompts generated together (left-padded) during eval.", 64, minimum=1, maximum=4096)
    precision: Literal["auto", "fp32", "bf16"] = doc(
        "Weights' precision when eval, the baseline, predict, chat and probe generate on CPU. auto: bf16 where the "
        "CPU computes it natively (avx512_bf16 or amx_bf16; about 1.4x faster, the same greedy answers on the "
        "demos, docs/benchmarks.md), else fp32. On CUDA the checkpoint's own dtype unless bf16.",
        "auto",
    )
    forbidden_commands: list[str] = doc(
        "Commands that are always wrong when the model outputs them (counted separately).", factory=list, maxItems=1000
    )


@dataclass
class DatasetSection:
    """Data files, relative to the project root."""

    seed: str = doc("Hand-written seed examples.", "dataset/seed.jsonl", minLength=1)
    gold: str = doc(
        "Locked gold set: never trained on, never shown to the agent beyond failure samples.",
        "dataset/gold.jsonl",
        minLength=1,
    )
    canonical: str = doc("The training set every command trains on.", "dataset/canonical.jsonl", minLength=1)
    sealed: str | None = doc("Optional sealed eval set: only aggregate scores are ever written.", None)
    generator: str = doc(
        "Offline example generator: a Python file defining generate(n, focus, seed) -> list of examples.",
        "generator.py",
        minLength=1,
    )
    probe: str = doc(
        "Domain-knowledge probe questions ({question, ideal} per line) for `forge probe`.",
        "dataset/probe.jsonl",
        minLength=1,
    )
    generator_mode: Literal["auto", "always", "never"] = doc(
        "auto: use the generator when it exists and no API key is set; always: always use it; never: always use the LLM.",
        "auto",
    )


@dataclass
class PretrainSection:
    """`forge pretrain`: continued causal-LM training of the base on raw domain text (LoRA, then merged)."""

    corpus: str = doc(
        'Directory of .txt, .md and .jsonl ({"text": ...}) files, relative to the project.', "corpus", minLength=1
    )
    learning_rate: float = doc(
        "Learning rate (lower than fine-tuning, to keep what the base knows).", 2e-5, exclusiveMinimum=0, maximum=1
    )
    epochs: int = doc("Passes over the corpus.", 1, minimum=1, maximum=100)
    batch_size: int = doc("Packed blocks of model.max_seq_len tokens per step.", 4, minimum=1, maximum=1024)


@dataclass
class HubSection:
    """Where `forge push` uploads the best adapter (the Hugging Face Hub)."""

    hf_repo: str | None = doc("Hugging Face repo id for `forge push`; null disables pushing.", None)
    private: bool = doc("Create the repo private.", True)


@dataclass
class DatagenSection:
    """Data generation: who writes training examples, and how many augment asks for."""

    augment_per_failure: int = doc("Examples generated per failure category by augment.", 20, minimum=1, maximum=1000)
    model: str = doc(
        "Claude model that writes training data (and audits it, judges probes, and is the teacher that "
        "`forge eval --teacher` scores).",
        "claude-sonnet-5-5",
        minLength=1,
    )


@dataclass
class RaySection:
    """Sweeps on Ray (`forge sweep`, the planner's sweep tool): many experiments at once."""

    address: str | None = doc(
        "null: a private Ray cluster on this machine, started and stopped by forge for each sweep. "
        "http://head:8265: an existing cluster, reached through Ray Jobs (its dashboard address).",
        None,
        pattern=r"^https?://[^/\s]+",
    )
    gpus_per_experiment: float | None = doc(
        "GPUs each experiment holds; Ray gives it its own CUDA_VISIBLE_DEVICES. null: 1 where the cluster has "
        "GPUs, else 0.",
        None,
        minimum=0,
        maximum=64,
    )
    cpus_per_experiment: float = doc("CPU cores each experiment holds.", 1.0, minimum=0, maximum=1024)
    max_parallel: int = doc(
        "Experiments running at once (0: as many as the cluster's GPUs and CPUs allow).", 0, minimum=0, maximum=4096
    )
    retries: int = doc(
        "Times an experiment is run again after its worker process or node dies. A Python error is not retried: "
        "the experiment is recorded as failed and the sweep goes on.",
        2,
        minimum=0,
        maximum=20,
    )
    storage: str | None = doc(
        "Where jobs on an existing cluster leave their models and results for forge to fetch: a path this machine "
        "and every node share, or an fsspec URL (s3://bucket/prefix). Needed with address; a private cluster "
        "writes into output/ itself.",
        None,
        minLength=1,
    )
    env_vars: list[str] = doc(
        "Names of environment variables to forward from this shell to every experiment (e.g. HF_TOKEN); values "
        "are read at submission and never written to a file.",
        factory=list,
    )
    local_gpus: int | None = doc(
        "GPUs a private cluster offers (null: the ones Ray detects). Logical: each experiment gets its own "
        "CUDA_VISIBLE_DEVICES from them, so it can also cap how many GPUs a sweep takes.",
        None,
        minimum=0,
        maximum=1024,
    )
    local_cpus: int | None = doc(
        "CPU cores a private cluster offers (null: all of this machine's).", None, minimum=1, maximum=4096
    )


@dataclass
class ComputeSection:
    """Where training and eval run."""

    device: str = doc("Torch device; falls back to cpu with a warning when CUDA is absent.", "cuda:0", minLength=1)
    remote: str | None = doc(
        "Run train, eval, pretrain, probe's answers and export on another machine: ssh://[user@]host[:port]/path "
        "(path: the project copy there; /~/dir for one under the home directory). The system ssh client is used, "
        "so ~/.ssh/config, keys and agent apply; files move with rsync. null runs locally.",
        None,
        pattern=r"^ssh://[^/\s]+/.+",
    )
    ssh_options: list[str] = doc(
        "Extra ssh arguments for compute.remote, e.g. [-i, ~/.ssh/gpu_box, -o, ProxyJump=bastion].", factory=list
    )
    remote_setup: str | None = doc(
        "Shell line run on the remote before each forge command, e.g. `source .venv/bin/activate`.", None
    )
    num_processes: int = doc(
        "Data-parallel training processes on this machine (accelerate: DDP, NCCL on GPUs, gloo on CPU). Keep "
        "training.batch_size per process; the effective batch is num_processes x batch_size x "
        "gradient_accumulation_steps. Unsloth trains in one process.",
        1,
        minimum=1,
        maximum=64,
    )
    accelerate_config: str | None = doc(
        "An accelerate config file (from `accelerate config`, relative to the project) for bases that don't fit one "
        "GPU: FSDP or DeepSpeed. With it, `accelerate launch --config_file` picks the distributed mode; "
        "compute.num_processes still sets the process count. null: plain DDP.",
        None,
    )
    ray: RaySection | None = doc(
        "Sweeps on Ray; see its keys below. null: `forge sweep` starts a private cluster with their defaults, "
        "and the heuristic planner runs one experiment at a time. Excludes compute.remote.",
        None,
    )


@dataclass
class AgentSection:
    """The planner agent (`forge agent run`, `forge flywheel`): model, context, budgets checked before every call (0 = no limit)."""

    planner_model: str = doc("Claude model that plans the next action.", "claude-sonnet-5-5", minLength=1)
    max_iterations: int = doc("Train-then-eval cycles one run may start.", 10, minimum=0, maximum=10000)
    max_cost_usd: float = doc(
        "LLM spend limit in USD for one run (planner and data generation).", 5.0, minimum=0, maximum=100000
    )
    max_minutes: float = doc(
        "Wall-time limit in minutes for one run; long tools stop cleanly when it runs out.",
        240,
        minimum=0,
        maximum=100000,
    )
    max_tool_calls: int = doc("Tool calls allowed in one run.", 200, minimum=0, maximum=100000)
    max_new_examples: int = doc(
        "Training examples the agent may add (augment) in one run.", 2000, minimum=0, maximum=1000000
    )
    context_tokens: int = doc(
        "Prompt size in tokens past which older turns are compacted to one-line summaries (the transcript keeps "
        "everything). 0 = auto: 150000 on Anthropic's API, 16000 when llm.base_url points at another server.",
        0,
        minimum=0,
        maximum=2000000,
    )
    max_tokens: int = doc(
        "max_tokens of each planner request (thinking shares it on the 5.5 models).", 8000, minimum=256, maximum=128000
    )
    noise_floor_seeds: int = doc(
        "With compute.ray set, the heuristic planner first trains its starting configuration with this many seeds "
        "at once (a sweep); their spread is the noise floor, and a promotion must then gain more than it, with "
        "McNemar's p <= 0.05. 0: never measured.",
        3,
        minimum=0,
        maximum=64,
    )
    stop_at_gap_closure: float | None = doc(
        "Stop the run once the best model closes this share of the gap from the base model to the teacher, "
        "(best - base) / (teacher - base), next to eval.target_accuracy; needs the teacher's score "
        "(`forge eval --teacher`, `forge flywheel --teacher`). null: no such rule.",
        None,
        exclusiveMinimum=0,
        maximum=1,
    )


@dataclass
class Price:
    """USD per million tokens."""

    input: float = doc("Uncached input tokens.", 0.0, minimum=0)
    output: float = doc("Output tokens.", 0.0, minimum=0)


@dataclass
class LlmSection:
    """The Anthropic-compatible LLM backend."""

    base_url: str | None = doc("Anthropic-compatible server URL (else ANTHROPIC_BASE_URL, else Anthropic).", None)
    max_retries: int = doc(
        "Retries on overload, rate limits, timeouts and lost connections (with backoff); every "
        "retry is forge's own, none hide in the SDK.",
        4,
        minimum=0,
        maximum=20,
    )
    timeout_s: float = doc(
        "Timeout of every request (planner, data generation, audit, probe, batches), in seconds.",
        120,
        exclusiveMinimum=0,
        maximum=3600,
    )
    planner_effort: Literal["low", "medium", "high", "max"] | None = doc(
        "output_config.effort of planner requests; null leaves the model's default.", None
    )
    datagen_effort: Literal["low", "medium", "high", "max"] | None = doc(
        "output_config.effort of data generation, audit and probe-judge requests: thinking shares max_tokens, so a "
        "high effort can truncate their structured answers. null leaves the model's default.",
        "low",
    )
    batch_deadline_minutes: float = doc(
        "How long `--batch-api` waits for a message batch before cancelling it.", 120, exclusiveMinimum=0, maximum=1440
    )
    concurrency: int = doc("Concurrent LLM requests during data generation.", 4, minimum=1, maximum=64)
    prices: dict[str, Price] = doc(
        "Price table override: model id -> {input, output} USD per million tokens.", factory=dict
    )


@dataclass
class ForgeConfig:
    """The whole forge.yaml."""

    name: str = doc("Project name.", "forge-project", minLength=1, maxLength=200)
    model: ModelSection = field(default_factory=ModelSection)
    lora: LoraSection = field(default_factory=LoraSection)
    training: TrainingSection = field(default_factory=TrainingSection)
    grpo: GrpoSection = field(default_factory=GrpoSection)
    eval: EvalSection = field(default_factory=EvalSection)
    dataset: DatasetSection = field(default_factory=DatasetSection)
    pretrain: PretrainSection = field(default_factory=PretrainSection)
    datagen: DatagenSection = field(default_factory=DatagenSection)
    hub: HubSection = field(default_factory=HubSection)
    compute: ComputeSection = field(default_factory=ComputeSection)
    agent: AgentSection = field(default_factory=AgentSection)
    llm: LlmSection = field(default_factory=LlmSection)
