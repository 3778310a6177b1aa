"""The one training loop every family shares.

A family supplies networks, optimizers, a dataset and `train_step`; the loop owns the learning-rate
schedule, data order, progress on stderr (a live bar on a terminal, a plain line per --log-every off one),
`log.jsonl` (losses every --log-every steps, the family's figures of its validation samples beside every
grid; its format and reading are cgan_cli/watch/runlog.py's), sample grids, checkpoints, exact resume,
SIGINT/SIGTERM and the non-finite-loss guard. At --eval-every steps (and a new run's step 0) it saves the
step's checkpoint and hands it to cgan_cli/watch/evaluator.py, which scores it and keeps best.safetensors;
--tensorboard mirrors the log through cgan_cli/watch/board.py. Losses are summed on the device and read back
only every --log-every steps, so the hot loop never waits on the GPU. Under torchrun it runs data-parallel
(cgan_cli/distributed.py): every rank trains on its shard, rank 0 alone writes and evaluates.
"""

from __future__ import annotations

import json
import math
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from rich.progress import Progress, TaskID
from torch.utils.data import DataLoader

from cgan_cli import distributed
from cgan_cli.checkpoint import Checkpoint, link_or_copy, save_checkpoint
from cgan_cli.config import to_dict
from cgan_cli.console import animated, info, stderr_console
from cgan_cli.data.atomic import atomic_write_bytes
from cgan_cli.data.io import save_image
from cgan_cli.data.sampling import ResumableSampler
from cgan_cli.data.transforms import DeviceCrop, crop_on_device
from cgan_cli.device import to_device
from cgan_cli.errors import CganError, ExitCode, UsageError
from cgan_cli.families.base import Family
from cgan_cli.watch import runlog
from cgan_cli.watch.board import Board
from cgan_cli.watch.evaluator import Evaluator
from cgan_cli.watch.progress import training_bar


class Interrupted(CganError):
    exit_code = ExitCode.INTERRUPTED


class NonFiniteLoss(CganError):
    pass


def lr_factor(epoch: int, epochs: int, epochs_decay: int) -> float:
    """The reference's `linear` policy: constant for `epochs`, then linearly towards 0 over `epochs_decay`."""
    return max(0.0, 1.0 - max(0, epoch + 1 - epochs) / float(epochs_decay + 1))


@dataclass
class Position:
    step: int = 0
    epoch: int = 0
    index: int = 0  # items of this epoch already consumed


def checkpoint_name(step: int) -> str:
    return f"step-{step:07d}.safetensors"


class Trainer:
    def __init__(self, family: Family, run_dir: Path, workers: int = 0, sync_bn: bool = False) -> None:
        self.family = family
        self.cfg = family.config
        self.run_dir = run_dir
        self.workers = workers
        self.world = distributed.current()
        if sync_bn:
            distributed.sync_batch_norm(family.nets, family.device)
        if self.world.distributed:
            distributed.replicate(family.nets, family.optimizers)
            self._seed_rank(0)
        self.pos = Position()
        self._stop_signal: int | None = None
        self._stopping = False  # every rank agreed to stop after the current step
        self._sums: dict[str, torch.Tensor] = {}
        self._counts: dict[str, int] = {}
        self._last_log = (time.perf_counter(), 0)
        self.last_saved: Path | None = None
        self.sample_stats: dict[str, float] = {}  # the latest figures of the validation samples, shown in status
        self.resumed_from: Path | None = None
        self.evaluator = self._evaluator()
        self.board: Board | None = None

    def _evaluator(self) -> Evaluator | None:
        """--eval-every's evaluator on rank 0, its options checked before any step; None without it."""
        cfg = self.cfg
        if not cfg.eval_every:
            if cfg.eval_real or cfg.eval_metrics or cfg.eval_n or cfg.inception_weights:
                raise UsageError("--eval-real, --eval-metrics, --eval-n and --inception-weights are for --eval-every N")
            return None
        if not self.world.main:
            return None
        blocker = self.family.evaluation_blocker(cfg)
        return Evaluator(cfg, self.family.makes, self.run_dir, self.family.device, blocker)

    # --- state --------------------------------------------------------------------------------
    def _rng_states(self) -> dict[str, torch.Tensor]:
        states = {"torch": torch.get_rng_state()}
        if self.family.device.type == "cuda":
            states["cuda"] = torch.cuda.get_rng_state(self.family.device)
        return states

    def checkpoint(self) -> Checkpoint:
        """The run's state; under torchrun a collective (every rank's RNG state is gathered)."""
        tensors = self.family.state_tensors()
        ranks = [self._rng_states()]
        if self.world.distributed:
            ranks = [None] * self.world.size
            torch.distributed.all_gather_object(ranks, self._rng_states())
        for rank, states in enumerate(ranks):
            suffix = f"/rank{rank}" if rank else ""
            tensors.update({f"rng/{kind}{suffix}": t for kind, t in states.items()})
        state = {
            "position": {"step": self.pos.step, "epoch": self.pos.epoch, "index": self.pos.index},
            "optimizers": self.family.optimizer_groups(),
            "world_size": self.world.size,
            "progress": self.family.progress(self.pos.step),
        }
        if self.evaluator is not None:
            state["eval"] = self.evaluator.state()
        return Checkpoint(None, self.family.name, to_dict(self.cfg), self.pos.step, self.pos.epoch, tensors, state)

    def restore(self, ckpt: Checkpoint) -> None:
        """Continue from `ckpt`. Each rank takes its own saved RNG state when the world size is the one saved;
        in another world the data order still continues at the saved position, and ranks > 0 reseed."""
        self.family.load_state(ckpt)
        p = ckpt.state.get("position", {})
        self.pos = Position(int(p.get("step", ckpt.step)), int(p.get("epoch", ckpt.epoch)), int(p.get("index", 0)))
        self.resumed_from = ckpt.path
        if self.world.main:
            runlog.rewind(self.run_dir, self.pos.step)  # what a later, abandoned session logged goes aside
        if self.evaluator is not None:
            self.evaluator.restore(ckpt.state.get("eval"))
        suffix = f"/rank{self.world.rank}" if self.world.rank else ""
        same_world = int(ckpt.state.get("world_size", 1)) == self.world.size
        if self.world.rank and not same_world:
            self._seed_rank(self.pos.step)
            return
        if f"rng/torch{suffix}" in ckpt.tensors:
            torch.set_rng_state(ckpt.tensors[f"rng/torch{suffix}"])
        if f"rng/cuda{suffix}" in ckpt.tensors and self.family.device.type == "cuda":
            torch.cuda.set_rng_state(ckpt.tensors[f"rng/cuda{suffix}"], self.family.device)

    def _seed_rank(self, step: int) -> None:
        """Ranks > 0 draw their own noise (z, dropout); rank 0 keeps the single-process stream."""
        if self.world.rank:
            torch.manual_seed(distributed.rank_seed(self.cfg.seed, step, self.world.rank))

    def save(self) -> Path:
        self._reduce_losses()
        self.check_finite()
        ckpt = self.checkpoint()
        path = self.run_dir / checkpoint_name(self.pos.step)
        if self.world.main:
            save_checkpoint(path, ckpt)
            link_or_copy(path, self.run_dir / "latest.safetensors")
            if self.cfg.keep:
                for old in sorted(self.run_dir.glob("step-*.safetensors"))[: -self.cfg.keep]:
                    old.unlink(missing_ok=True)
        self.last_saved = path
        return path

    # --- logging ------------------------------------------------------------------------------
    def accumulate(self, losses: dict[str, torch.Tensor]) -> None:
        for k, v in losses.items():
            self._sums[k] = self._sums[k] + v.float() if k in self._sums else v.float()
            self._counts[k] = self._counts.get(k, 0) + 1

    def check_finite(self) -> None:
        if not self._sums:
            return
        values = torch.stack(list(self._sums.values()))
        if not bool(torch.isfinite(values).all()):
            bad = [k for k, v in self._sums.items() if not math.isfinite(float(v))]
            keep = f"; the last good checkpoint is {self.last_saved}" if self.last_saved else ""
            raise NonFiniteLoss(
                f"loss {', '.join(bad)} became non-finite before step {self.pos.step}: training stopped{keep}"
                " (try a lower --lr, or another --loss)"
            )

    def _reduce_losses(self) -> None:
        """Every rank's running sums become their mean over ranks (mean is linear, so reducing again
        after more steps stays right); then all ranks agree on what is logged and on non-finite stops."""
        if self.world.distributed and self._sums:
            means = distributed.mean(torch.stack([self._sums[k] for k in sorted(self._sums)]))
            self._sums = dict(zip(sorted(self._sums), means.unbind()))

    def flush_log(self) -> dict[str, Any]:
        self._reduce_losses()
        self.check_finite()
        now, step0 = time.perf_counter(), self._last_log[1]
        images = (self.pos.step - step0) * self.cfg.batch_size * self.world.size
        record: dict[str, Any] = {"step": self.pos.step, "epoch": self.pos.epoch}
        record.update({k: round(float(v) / self._counts[k], 6) for k, v in self._sums.items()})
        record["lr"] = next(iter(self.family.optimizers.values())).param_groups[0]["lr"]
        record["img_per_s"] = round(images / max(1e-9, now - self._last_log[0]), 3)
        record["time"] = round(time.time(), 3)
        if self.world.main:
            runlog.append(self.run_dir, record)
            if self.board is not None:
                self.board.losses(record)
        self._sums, self._counts, self._last_log = {}, {}, (now, self.pos.step)
        return record

    def write_samples(self, batch: dict[str, torch.Tensor]) -> None:
        """The grid of the fixed validation batch, and the family's figures of it as a line of log.jsonl."""
        if not self.world.main:
            return
        image, stats = self.family.show(batch)
        save_image(image, self.run_dir / "samples" / f"step-{self.pos.step:07d}.png")
        if self.board is not None:
            self.board.grid(self.pos.step, image)
            self.board.figures(self.pos.step, stats)
        if stats:
            self.sample_stats = stats
            runlog.append(self.run_dir, {"step": self.pos.step, "epoch": self.pos.epoch, **stats})

    def evaluate(self, status: Any) -> None:
        """--eval-every at this step: every rank saves the step's checkpoint (a collective), recording that it
        awaits its score; rank 0 scores it. The time it takes is left out of the logged training throughput."""
        started = time.perf_counter()
        if self.evaluator is not None:
            self.evaluator.pending = self.pos.step
        path = self.save()
        if self.evaluator is None:
            return
        status(f"evaluating step {self.pos.step}")
        results = self.evaluator.evaluate(path, self.pos.step, self.pos.epoch)
        self.evaluator.pending = None
        if self.board is not None:
            self.board.metrics(self.pos.step, results)
        if results:
            info(f"step {self.pos.step}: {self.evaluator.status()}")
        self._last_log = (self._last_log[0] + time.perf_counter() - started, self._last_log[1])

    # --- the loop -----------------------------------------------------------------------------
    def _on_signal(self, signum: int, frame: Any) -> None:
        if self._stop_signal is not None:  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        self._stop_signal = signum

    def fit(self) -> Path:
        cfg, family = self.cfg, self.family
        self.run_dir.mkdir(parents=True, exist_ok=True)
        dataset = family.dataset()
        if isinstance(dataset, DeviceCrop):
            dataset.defer_crop = True
        n = len(dataset)
        world = self.world
        sampler = ResumableSampler(n, cfg.seed, world.rank, world.size, cfg.batch_size, family.full_batches)
        cuda = family.device.type == "cuda"
        loader = DataLoader(
            dataset,
            batch_size=cfg.batch_size,
            sampler=sampler,
            num_workers=self.workers,
            pin_memory=cuda,
            persistent_workers=self.workers > 0,
            generator=torch.Generator(),  # keep the global RNG (dropout, GP) untouched by the loader
            worker_init_fn=_ignore_interrupts,
        )
        steps_per_epoch = math.ceil(n / (cfg.batch_size * world.size))
        total = (cfg.epochs + cfg.epochs_decay) * steps_per_epoch
        total = min(total, cfg.steps) if cfg.steps else total
        if total <= 0:
            raise CganError("nothing to train: --epochs + --epochs-decay is 0 and --steps is not set")
        val_batch = {k: to_device(v, family.device) for k, v in family.validation_batch().items()}
        if world.main:
            write_json(self.run_dir / "config.json", {"family": family.name, "config": to_dict(cfg)})

        console = stderr_console()
        live = animated(console) and world.main
        progress = training_bar(console, live, cfg.batch_size * world.size)
        if world.main:
            ranks = f" × {world.size} processes (batch {cfg.batch_size} each)" if world.distributed else ""
            info(
                f"training {family.name} on {n} images ({steps_per_epoch} steps/epoch) for {total} steps"
                f" on {family.device}{ranks}; run folder {self.run_dir}"
            )
        if self.evaluator is not None:
            every = f"every {cfg.eval_every} steps and at the end"
            info(f"scoring {every} as `{self.evaluator.command(self.run_dir / 'step-N.safetensors')}` would")
        previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            for s in previous:
                signal.signal(s, self._on_signal)
        except ValueError:  # not the main thread: no signal handling
            previous = {}
        if cfg.tensorboard and world.main:
            self.board = Board(self.run_dir, self.pos.step if self.resumed_from is not None else None)
        if self.evaluator is not None and self.resumed_from is not None:
            self.evaluator.resume(self.resumed_from, self.pos.step, self.pos.epoch)
        if cfg.eval_every and self.resumed_from is None and self.pos.step == 0:
            self.evaluate(lambda text: None)  # where the curve starts: the untrained generator, as StyleGAN's tick 0
        family.train_mode(True)
        self._last_log = (time.perf_counter(), self.pos.step)
        try:
            with progress:
                task = progress.add_task(family.name, total=total, completed=self.pos.step, status="")
                self._loop(loader, sampler, n, total, val_batch, progress, task)
        except CganError as exc:
            raise CganError(_worker_message(str(exc)), exc.exit_code) from None
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
            if self.board is not None:
                self.board.close()
        if self._stopping:
            path = self.save()
            name = signal.Signals(self._stop_signal).name if self._stop_signal > 0 else "another rank's signal"
            if world.main:
                info(f"{name}: stopped at step {self.pos.step}; continue with: cgan train --resume {path}")
            raise Interrupted(f"interrupted at step {self.pos.step}; saved {path}")
        if self.last_saved is None or self.last_saved.name != checkpoint_name(self.pos.step):
            self.save()
        if world.main:
            info(f"done: {self.pos.step} steps; checkpoint {self.last_saved}")
        return self.last_saved

    def _loop(
        self,
        loader: DataLoader,
        sampler: ResumableSampler,
        n: int,
        total: int,
        val_batch: dict[str, torch.Tensor],
        progress: Progress,
        task: TaskID,
    ) -> None:
        cfg, family, world = self.cfg, self.family, self.world
        flags = _flag_group(family.device) if world.distributed else None
        shown_status = ""
        while self.pos.step < total and not self._stopping:
            sampler.epoch, sampler.start = self.pos.epoch, self.pos.index
            family.set_lr_factor(lr_factor(self.pos.epoch, cfg.epochs, cfg.epochs_decay))
            for batch in loader:
                batch = crop_on_device(batch, family.device)
                family.step = self.pos.step
                losses = family.train_step(batch)
                self.pos.step += 1
                self.pos.index = min(n, self.pos.index + world.size * cfg.batch_size)
                if world.distributed:
                    distributed.sync_buffers(family.nets)
                    self._stopping = self._agree_to_stop(flags)
                self.accumulate(losses)
                step = self.pos.step
                if step % cfg.log_every == 0 or step == total:
                    record = self.flush_log()
                    shown = {**record, **self.sample_stats}
                    status = " ".join(
                        f"{k} {v:.3g}" for k, v in shown.items() if k not in ("step", "epoch", "time", "lr")
                    )
                    if self.evaluator is not None and self.evaluator.latest:
                        status += f" | {self.evaluator.status()}"
                    shown_status = f"ep {self.pos.epoch} {status}"
                    progress.update(task, completed=step, status=shown_status)
                    if progress.disable and world.main:  # no live bar: one plain line per log interval instead
                        info(f"step {step}/{total} epoch {self.pos.epoch} {status}")
                else:
                    progress.update(task, completed=step)
                if step % cfg.sample_every == 0 or step == total:
                    self.write_samples(val_batch)
                if cfg.eval_every and (step % cfg.eval_every == 0 or step == total):
                    self.evaluate(lambda text: progress.update(task, status=text))
                    if self.evaluator is not None:  # the bar shows the new score until the next log line
                        shown_status = shown_status.split(" | ")[0] + f" | {self.evaluator.status()}"
                        progress.update(task, status=shown_status)
                elif step % cfg.save_every == 0:
                    self.save()
                if not world.distributed:
                    self._stopping = self._agree_to_stop(None)
                if step >= total or self._stopping:
                    break
            if self.pos.index >= n:
                self.pos.epoch += 1
                self.pos.index = 0


    def _agree_to_stop(self, flags: Any) -> bool:
        """Whether every rank stops after this step. Under torchrun each rank makes exactly one collective call
        here per step whatever the signals do meanwhile: a signal that lands during the call counts at the next
        step, so no rank ever stops, or calls a collective, alone (checking the flag twice once deadlocked)."""
        signalled = self._stop_signal is not None
        if not self.world.distributed:
            return signalled
        stop = distributed.any_rank(signalled, flags)
        if stop and not signalled:
            self._stop_signal = -1  # another rank was signalled: stop at this same step
        return stop


def _flag_group(device: torch.device) -> Any:
    """Where ranks agree on stopping each step: a Gloo group on CPU tensors, so NCCL runs never sync the GPU."""
    return torch.distributed.new_group(backend="gloo") if device.type == "cuda" else None


def _ignore_interrupts(worker_id: int) -> None:
    """Ctrl-C reaches the whole process group: loader workers leave it to the main process, which
    finishes the step, saves and shuts them down."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def write_json(path: Path, data: Any) -> None:
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    atomic_write_bytes(path, text.encode())


def _worker_message(message: str) -> str:
    """DataLoader workers re-raise our errors with their traceback inside; keep the last line's text."""
    if "Original Traceback" not in message:
        return message
    last = message.strip().splitlines()[-1]
    return last.split(": ", 1)[1] if ": " in last else last
