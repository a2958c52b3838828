"""Names for the demo market (see `dataprep.demo`): companies ("Hanil Chemical Holdings"),
preferred shares (the common's name + 우 / 2우B / 우(전환), by code suffix), SPACs ("XX스팩N호",
numbered per house in listing order) and REITs ("..리츠"). Pure numpy, drawn from the rng."""

from __future__ import annotations

import numpy as np

NAME_HEADS = tuple("Han Dae Sam Dong Kum Se Hyo Shin Il Kuk Yu Seo Nam Tae Hwa".split())
NAME_HEADS += tuple("Sung Kwang Jin Young Woo".split())
NAME_TAILS = tuple("il won yang bu ho jin sung san lim kwang do hwa myung heung".split())
NAME_TAILS += tuple("chang a bo kyung dong jeon".split())
NAME_FORMS = ("", " Holdings", " Industries", " Tech", " Global", " Korea")
PREFERRED_WORDS = {"5": "우", "7": "2우B", "K": "우(전환)"}  # code suffix -> name suffix
SPAC_HOUSES = tuple("미래에셋 하나금융 NH KB 삼성 신한 IBKS 유안타 교보 DB금융".split())
SPAC_HOUSES += tuple("한화플러스 SK증권 대신밸런스 키움 한국투자".split())
SPAC_HOUSES += tuple("유진 하이 상상인 이베스트 신영".split())
REIT_HEADS = tuple("신한알파 롯데 이지스 코람코 미래에셋 한화 KB스타 NH올원".split())
REIT_HEADS += tuple("SK ESR 마스턴 디앤디".split())
REIT_WORDS = ("", "글로벌", "밸류", "오피스", "물류", "인프라", "프라임")


def preferred_suffixes(rng: np.random.Generator, target: int) -> list[tuple[str, ...]]:
    """Per issuing company, the last code characters of its preferred shares, ~`target` in
    all: 5 (우), 5 and 7 (우, 2우B) or K (우(전환))."""
    groups = [("5",), ("5", "7"), ("K",)]
    drawn = rng.choice(len(groups), target, p=(0.75, 0.12, 0.13))
    out: list[tuple[str, ...]] = []
    for g in drawn:
        if sum(len(s) for s in out) + len(groups[g]) <= target:
            out.append(groups[g])
    return out


def company_names(rng: np.random.Generator, *, words: np.ndarray) -> np.ndarray:
    """"<head><tail> <word><form>" per company, `words` its sector's word ("Chemical")."""
    n = len(words)
    name_index = rng.choice(
        len(NAME_HEADS) * len(NAME_TAILS) * len(NAME_FORMS),
        n,
        replace=n > len(NAME_HEADS) * len(NAME_TAILS) * len(NAME_FORMS),
    )
    pair, form = np.divmod(name_index, len(NAME_FORMS))
    head_i, tail_i = np.divmod(pair, len(NAME_TAILS))
    names = np.char.add(
        np.char.add(np.char.add(np.array(NAME_HEADS)[head_i], np.array(NAME_TAILS)[tail_i]), " "),
        np.char.add(words, np.array(NAME_FORMS)[form]),
    )
    return names.astype(object)


def spac_names(rng: np.random.Generator, listing: np.ndarray) -> list[str]:
    """"XX스팩N호": each house numbers its SPACs in listing order."""
    house = rng.integers(0, len(SPAC_HOUSES), len(listing))
    number = rng.integers(1, 25, len(SPAC_HOUSES))
    names = [""] * len(listing)
    for k in np.argsort(listing, kind="stable"):
        names[k] = f"{SPAC_HOUSES[house[k]]}스팩{number[house[k]]}호"
        number[house[k]] += 1
    return names


def reit_names(rng: np.random.Generator, count: int) -> list[str]:
    combos = len(REIT_HEADS) * len(REIT_WORDS)
    picks = rng.permutation(max(count, combos))[:count]
    return [
        f"{REIT_HEADS[i % len(REIT_HEADS)]}{REIT_WORDS[i // len(REIT_HEADS) % len(REIT_WORDS)]}"
        f"{'' if i < combos else i // combos + 1}리츠"
        for i in picks
    ]
