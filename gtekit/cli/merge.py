"""`gtekit merge`: interpolate the weights of a trained model with the model it started from (WiSE-FT); the
options become a ``MergeSettings`` for ``gtekit.model.weight_merge.merge_models``."""

from __future__ import annotations

import argparse

MERGE_DESCRIPTION = """\
Write the model θ(λ) = (1 − λ)·θ_START + λ·θ_TRAINED (WiSE-FT, Wortsman et al. 2022): λ = 0 is START,
λ = 1 is TRAINED, bit for bit. Interpolating with the starting model keeps much of what training added
while undoing some of what it made the model forget; choose λ on dev splits, e.g.

  for w in 0.3 0.5 0.7; do gtekit merge all-MiniLM-L6-v2 runs/x/finetune/model --weight $w -o merged-$w; done
  gtekit eval all-MiniLM-L6-v2 merged-0.3 merged-0.5 merged-0.7 --suite offline --split dev

Both models must share architecture and vocabulary; the merged folder takes TRAINED's tokenizer and
settings and records both models and λ in merge.json.
"""


def add_parser(subcommands) -> argparse.ArgumentParser:
    parser = subcommands.add_parser("merge", help="interpolate a trained model's weights with its start (WiSE-FT)",
                                    description=MERGE_DESCRIPTION,
                                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("start", metavar="START", help="the model training started from (folder or bundled name)")
    parser.add_argument("trained", metavar="TRAINED", help="the trained model (folder)")
    parser.add_argument("--weight", type=float, required=True, metavar="λ",
                        help="weight of TRAINED, in [0, 1]: 0 gives START, 1 gives TRAINED")
    parser.add_argument("-o", "--output", required=True, metavar="DIR", help="folder to write the merged model to")
    parser.add_argument("--overwrite", action="store_true", help="replace DIR when it exists and is not empty")
    parser.set_defaults(handler=run)
    return parser


def run(args) -> int:
    from ..model.weight_merge import MergeSettings, merge_models

    folder = merge_models(MergeSettings(start=args.start, trained=args.trained, weight=args.weight,
                                        output_dir=args.output, overwrite=args.overwrite))
    print(f"merged {args.start} (1 − λ) and {args.trained} (λ = {args.weight:g}) into {folder}")
    return 0
