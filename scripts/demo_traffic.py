"""A bounded burst of traffic against a running router, with feedback on some answers: enough for the
dashboard and ``tiered-router tune`` to have something to show.

    tiered-router serve --demo &            # or any running router
    python scripts/demo_traffic.py [--url http://127.0.0.1:8000] [--n 300] [--seconds 600] [--key KEY]

Prompts are RouterBench's (../shared/eval), cycled, with a mix of caller hints (no hint, preferred tiers,
``model: tier-3``), a few Tier 0 commands and a few invalid bodies. Feedback is posted on a sample of the
answers and is synthetic: RouterBench's own label for the prompt (did the weak model answer it?) stands for
the caller's verdict on an answer from Tiers 0-2, so ``tune`` has a signal to read; say so when quoting it.
"""

import argparse
import random
import sys
import time
from collections import Counter
from pathlib import Path

import httpx

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "eval" / "routerbench" / "train.csv"


def prompts(limit: int) -> list[tuple[str, bool]]:
    """(prompt, the weak model answered it) from RouterBench, or a built-in handful without the data."""
    try:
        from router.evaluation.data import WEAK_MODEL, read_routerbench

        rows = read_routerbench(DATA)[:limit]
        return [(r.prompt[-3000:], r.quality[WEAK_MODEL] >= 0.5) for r in rows]
    except (OSError, ImportError, KeyError):
        return [("What is 2 + 2?", True), ("Explain the CAP theorem in depth.", False),
                ("Name the capital of France.", True), ("Prove that there are infinitely many primes.", False)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--n", type=int, default=300, help="requests to send (bounded)")
    parser.add_argument("--seconds", type=float, default=600.0, help="stop after this long in any case")
    parser.add_argument("--feedback-share", type=float, default=0.5, help="share of answers that get feedback")
    parser.add_argument("--key", help="workspace key (Authorization: Bearer); none in the local profile")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    pool = prompts(max(args.n, 50))
    headers = {"authorization": f"Bearer {args.key}"} if args.key else {}
    statuses: Counter[str] = Counter()
    tiers: Counter[str] = Counter()
    feedback = 0
    deadline = time.monotonic() + args.seconds
    with httpx.Client(base_url=args.url, headers=headers, timeout=120) as client:
        for i in range(args.n):
            if time.monotonic() > deadline:
                print(f"demo_traffic: time bound reached after {i} requests", file=sys.stderr)
                break
            prompt, weak_ok = pool[i % len(pool)]
            body: dict = {"model": "router", "messages": [{"role": "user", "content": prompt}], "max_tokens": 64}
            roll = rng.random()
            if roll < 0.04:
                body = {"messages": []}  # invalid: refused with a 400, and still one recorded outcome
            elif roll < 0.10:
                body["messages"][0]["content"] = "/cert az-104"
            elif roll < 0.20:
                body["model"] = "tier-3"
            elif roll < 0.45:
                body["router"] = {"preferred_tier": rng.choice([1, 2])}
            response = client.post("/v1/chat/completions", json=body)
            statuses[str(response.status_code)] += 1
            if response.status_code != 200:
                continue
            answer = response.json()
            tier = answer["router"]["tier"]
            tiers[str(tier)] += 1
            if rng.random() < args.feedback_share:
                good = weak_ok if tier < 3 else True
                posted = client.post("/v1/feedback", json={"request_id": answer["id"],
                                                           "outcome": "good" if good else "bad"})
                feedback += posted.status_code == 201
    print(f"demo_traffic: statuses {dict(statuses)}; answered by tier {dict(sorted(tiers.items()))}; "
          f"feedback posted {feedback}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
