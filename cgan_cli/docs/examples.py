"""What the man pages say that the command tree cannot: hand-written examples, exit statuses, environment.

The tables are data, kept apart from the roff rendering in `cgan_cli.docs.manpages`, so that adding a command's
examples does not mean editing the renderer. `tests/test_docs.py` checks every example against the real CLI.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# Hand-written examples, by command ("" is `cgan` itself; "train" covers its families). Each is (caption, command
# line); a command line may continue on further lines. An example is emitted only when every `cgan …` it runs is a
# registered command, so one for a command still being written appears once that command is registered.
EXAMPLES: dict[str, list[tuple[str, str]]] = {
    "": [
        (
            "Write the built-in demo dataset, train pix2pix on it for a few CPU minutes, and translate its test "
            "images:",
            "cgan demo demo &&\n"
            "  cgan train pix2pix --paired demo --out runs/demo --net-g unet_64 --ngf 32 --ndf 32 \\\n"
            "    --load-size 72 --crop-size 64 --steps 2000 &&\n"
            "  cgan translate runs/demo/latest.safetensors demo/test --aligned --out runs/demo/translated",
        ),
        (
            "Every command prints what it wrote on stdout, one path per line, so commands chain through pipes:",
            "find photos -name '*.jpg' | cgan translate runs/h2z/latest.safetensors - --out out/ | xargs -n1 identify",
        ),
        ("Print the version of cgan and of PyTorch:", "cgan --version"),
    ],
    "train": [
        (
            "Train pix2pix on the facades dataset, learning B to A:",
            "cgan train pix2pix --paired facades/ --direction BtoA --out runs/facades",
        ),
        (
            "Continue that run exactly where it stopped, with a new stop step:",
            "cgan train --resume runs/facades/latest.safetensors --steps 400000",
        ),
        (
            "CycleGAN on unpaired folders (trainA/ and trainB/), then StarGAN on one folder per domain:",
            "cgan train cyclegan --unpaired horse2zebra/ --out runs/h2z\n"
            "cgan train stargan --domains rafd/ --out runs/rafd",
        ),
        (
            "BicycleGAN: multimodal paired translation (z injected at every generator block), then z only at the "
            "input, conditional discriminators and a smaller encoder:",
            "cgan train bicyclegan --paired edges2shoes/ --out runs/e2s\n"
            "cgan train bicyclegan --paired edges2shoes/ --where-add input --conditional-d --net-e resnet_128 "
            "--nz 16 --nef 32 --ngf 32 --ndf 32 --num-ds 1 --net-d basic_256 --net-d2 basic_128_multi "
            "--lambda-l1 10 --lambda-gan 1 --lambda-gan2 1 --lambda-z 0.5 --lambda-kl 0.01 --out runs/e2s-small",
        ),
        (
            "SPADE on the facades' colour-coded label maps (the right halves), then on labels/, images/ and "
            "instance maps, with the VAE so outputs vary with z:",
            "cgan train spade --paired facades/ --label-side B --palette auto --out runs/spade-facades\n"
            "cgan train spade --labels cityscapes/ --instances cityscapes/instances --use-vae --z-dim 256 "
            "--lambda-kld 0.05 --out runs/spade-city",
        ),
        (
            "A class-conditional GAN on one subfolder per class, and an unconditional DCGAN on any folder:",
            "cgan train cgan --classes flowers/ --out runs/flowers\ncgan train dcgan --images faces/ --out runs/faces",
        ),
        (
            "InfoGAN, unsupervised: a 10-way categorical code and two continuous codes for Q to recover:",
            "cgan train infogan --images fashion/ --cat-codes 10 --cont-codes 2 --lambda-cont 0.5 --out runs/info",
        ),
        (
            "Text-to-image from captioned images, offline with a local CLIP weights file:",
            "cgan train gancls --captions birds/ --clip-weights open_clip_model.safetensors --out runs/birds",
        ),
        (
            "Training prints the final checkpoint's path on stdout, ready for the next command:",
            "cgan train pix2pix --paired facades/ --out runs/facades --steps 1000 |\n"
            "  xargs -I{} cgan translate {} photos/ --out translated/",
        ),
    ],
    "translate": [
        (
            "Translate a folder (recursively); relative paths are kept under --out:",
            "cgan translate runs/facades/latest.safetensors photos/ --out translated/",
        ),
        (
            "With - as input, read paths from stdin; the written paths come out on stdout, in input order:",
            "find photos -name '*.jpg' | cgan translate runs/h2z/latest.safetensors - --out out/ | xargs -n1 identify",
        ),
        (
            "CycleGAN's other generator, B to A:",
            "cgan translate runs/h2z/latest.safetensors zebras/ --direction BtoA --out horses/",
        ),
        (
            "StarGAN: every domain into its own subfolder, or chosen attributes of a multi-label model:",
            "cgan translate runs/rafd/latest.safetensors faces/ --to all --out all/\n"
            "cgan translate runs/celeba/latest.safetensors faces/ --set Blond_Hair=1 --set Black_Hair=0 --out blond/",
        ),
        (
            "BicycleGAN: five outputs per input, out/NAME/seed000000.png to seed000004.png (a seed fixes its z):",
            "cgan translate runs/e2s/latest.safetensors edges/ --seeds 0-4 --out out/",
        ),
        (
            "BicycleGAN: the style of a reference photo, its z encoded by E:",
            "cgan translate runs/e2s/latest.safetensors edges/ --style red_shoe.jpg --out red/",
        ),
        (
            "SPADE: label maps to photos (with their instance maps), three per map with the VAE, or in the style of "
            "a photo:",
            "cgan translate runs/spade-city/latest.safetensors maps/ --instances instances/ --seeds 0-2 --out out/\n"
            "cgan translate runs/spade-city/latest.safetensors maps/ --instances instances/ --style street.jpg "
            "--out styled/",
        ),
    ],
    "sample": [
        ("64 images (seeds 0 to 63):", "cgan sample runs/flowers/latest.safetensors --out samples/ -n 64"),
        (
            "Chosen seeds for two classes, with a contact sheet:",
            "cgan sample runs/flowers/latest.safetensors --out samples/ --seeds 0-7,100 --class rose --class 3 "
            "--grid sheet.png",
        ),
        (
            "One JSON object per image (path, seed, class), filtered with jq:",
            "cgan sample runs/flowers/latest.safetensors --out samples/ --class all -n 10 --json |\n"
            "  jq -r 'select(.class == \"rose\") | .path'",
        ),
        (
            "InfoGAN: fix the categorical code c0 to category 3 and the continuous c1 to 0.5 (c2 varies by seed):",
            "cgan sample runs/info/latest.safetensors --out samples/ -n 16 --code c0=3 --code c1=0.5 --grid c0-3.png",
        ),
    ],
    "text2img": [
        (
            "Four images for each of two prompts:",
            'cgan text2img runs/birds/latest.safetensors "a red bird with black wings" "a small yellow bird" '
            "-n 4 --seed 0 --out out/",
        ),
        (
            "Prompts from a file, one per line, through stdin (-), with a contact sheet:",
            "cat prompts.txt | cgan text2img runs/birds/latest.safetensors - --out out/ --grid sheet.png "
            "--truncation 0.8",
        ),
    ],
    "interp": [
        (
            "A looping walk through three seeds, as an animated GIF:",
            "cgan interp runs/flowers/latest.safetensors --seeds 1,2,3 --steps 24 --loop --gif walk.gif",
        ),
        (
            "Blend two classes at a fixed seed, frames and a contact sheet:",
            "cgan interp runs/flowers/latest.safetensors --classes rose,tulip --seed 7 --steps 16 --out frames/ "
            "--grid blend.png",
        ),
        (
            "InfoGAN's figure: continuous code c1 swept from -2 to 2 in 9 columns, a row per seed, with c0 held at 3; "
            "then every category of c0:",
            "cgan interp runs/info/latest.safetensors --walk c1 --range=-2,2 --steps 9 --seeds 0-4 --code c0=3 "
            "--grid c1.png\n"
            "cgan interp runs/info/latest.safetensors --walk c0 --seeds 0-4 --grid c0.png",
        ),
        (
            "StarGAN: blend one face's label from neutral to happy:",
            "cgan interp runs/rafd/latest.safetensors face.jpg --from neutral --to happy --steps 16 --gif smile.gif",
        ),
        (
            "BicycleGAN: one input while z walks from seed 1 to seed 2:",
            "cgan interp runs/e2s/latest.safetensors edge.png --seeds 1,2 --steps 8 --gif walk.gif",
        ),
        (
            "Frames of a walk between two prompts, turned into a video:",
            "cgan interp runs/birds/latest.safetensors --text 'a red bird' --text 'a blue bird' --seed 3 --steps 48 "
            "--out frames/ | sort | sed 's/^/file /' > list.txt && ffmpeg -f concat -i list.txt walk.mp4",
        ),
        (
            "Text-to-image: blend two prompts at a fixed seed:",
            'cgan interp runs/birds/latest.safetensors --text "a red bird" --text "a blue bird" --steps 16 --seed 3 '
            "--gif blend.gif",
        ),
    ],
    "eval": [
        ("FID and KID of generated against real images, as JSON:", "cgan eval real/ fake/ --fid --kid --json"),
        (
            "Save the real set's statistics once, and reuse them as REAL:",
            "cgan eval real/ --save-stats real.safetensors\ncgan eval real.safetensors fake/ --fid",
        ),
        (
            "A pix2pix checkpoint against the demo's test targets, translating their input halves on the fly:",
            "cgan eval demo/test runs/demo/latest.safetensors --aligned --fid --psnr --ssim",
        ),
        (
            "Only the FID value, for a script:",
            "cgan eval real/ fake/ --fid | awk '$1 == \"fid:\" { print $2 }'",
        ),
    ],
    "plot": [
        ("Loss, metric, learning-rate and throughput curves of a run, written to runs/facades/plot.png:",
         "cgan plot runs/facades"),
        (
            "An SVG with raw curves (no smoothing), refreshed every minute while the run trains:",
            "watch -n 60 cgan plot runs/facades --out facades.svg --smooth 0",
        ),
        ("Open the figure as soon as it is written:", "cgan plot runs/facades | xargs xdg-open"),
    ],
    "report": [
        (
            "One self-contained HTML page about a run (config, plots, sample grids over time, best checkpoint):",
            "cgan report runs/facades --out facades.html",
        ),
        ("Write it into the run folder and open it in a browser:", "cgan report runs/facades | xargs xdg-open"),
    ],
    "demo": [
        ("The default demo dataset (400 training and 40 test pairs):", "cgan demo demo"),
        (
            "It prints its folder on stdout, so it can feed training directly:",
            "cgan demo demo --train 100 --test 8 --size 32 |\n"
            "  xargs -I{} cgan train pix2pix --paired {} --out runs/tiny --net-g unet_32 --load-size 36 "
            "--crop-size 32",
        ),
    ],
    "export": [
        (
            "Export a trained generator to ONNX:",
            "cgan export runs/facades/latest.safetensors --format onnx --out facades.onnx",
        ),
        (
            "Both CycleGAN directions in half precision, printing each file's size from the JSON:",
            "for d in AtoB BtoA; do cgan export runs/h2z/latest.safetensors --json --direction $d --fp16 "
            "--out h2z-$d.onnx; done | jq -r '[.path, .bytes] | @tsv'",
        ),
        (
            "A small inference-only checkpoint, then sampling from it:",
            "cgan export runs/flowers/latest.safetensors --out flowers-small.safetensors && "
            "cgan sample flowers-small.safetensors -n 64 --out samples/ | wc -l",
        ),
    ],
    "info": [
        (
            "What a checkpoint is: family, step, the options changed from the defaults, sizes, parameters:",
            "cgan info runs/facades/latest.safetensors",
        ),
        (
            "Step and generator size of every checkpoint of a run, from the JSON lines:",
            "cgan info runs/facades/step-*.safetensors --json | jq -r '[.path, .step, .parameters.G] | @tsv'",
        ),
        (
            "Check every checkpoint under runs/ for damage (digests are verified; a bad file is named, exit 1):",
            "find runs -name '*.safetensors' | cgan info --quiet - && echo all intact",
        ),
        ("An ONNX or TorchScript export: its inputs and the model it came from:", "cgan info facades.onnx h2z.pt"),
    ],
}

# (section title, noun) for the subcommands a group lists inline: `cgan train` lists its families
CHILD_TITLES = {"train": ("FAMILIES", "family")}

EXIT_STATUSES = [
    ("0", "Success."),
    ("1", "Failure, including any bad input in a batch (the other inputs are still processed)."),
    ("2", "Usage error: an unknown command or option, a missing or invalid value."),
    ("130", "Interrupted (Ctrl-C)."),
    ("141", "Standard output was closed early, as by `| head`: cgan stops quietly, as SIGPIPE would stop it."),
]
EXIT_NOTES = {
    "train": "Ctrl-C or SIGTERM finishes the current step, saves a checkpoint and exits 130; a second Ctrl-C "
    "stops at once. A loss that turns NaN or infinite stops training with status 1 and keeps the last good "
    "checkpoint.",
    "plot": "A missing run folder, a run with no complete log line yet, or no matplotlib installed is one line on "
    "stderr and status 1; an --out that is not .png or .svg is status 2.",
    "report": "A missing run folder or a run with no complete log line yet is status 1. Without matplotlib the page "
    "is still written, with a note instead of the plots (and a warning on stderr).",
    "info": "A file that is missing, not a cgan file, damaged or modified (a checksum mismatch) is named on stderr and "
    "makes the status 1; the other files are still described.",
}

ENVIRONMENT = [
    ("NO_COLOR", "When set, no colour and no progress animation (there are none off a terminal either)."),
    ("CGAN_CACHE_DIR", "Cache folder for encoded captions and image features (default: ~/.cache/cgan)."),
    ("CGAN_INCEPTION_WEIGHTS", "The FID Inception weights file, when `--inception-weights` is not given."),
    ("CGAN_LPIPS_WEIGHTS", "The LPIPS weights file (.safetensors), when `--lpips-weights` is not given."),
    ("_CGAN_COMPLETE", "Set by the shell completion scripts to ask cgan for completions; see the README."),
]


def host_defaults() -> dict[str, tuple[Callable[[], Any], str]]:
    """Parameter name, or "command.name" where commands differ -> (the function behind its host-dependent
    default, how the pages describe it)."""
    from cgan_cli.cli.common import default_threads, default_workers

    return {
        "train.workers": (default_workers, "min(4, CPU count)"),
        "workers": (default_threads, "min(16, CPU count)"),
    }
