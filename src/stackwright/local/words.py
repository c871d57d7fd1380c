"""Content words for lexical overlap: lower-cased, stop words dropped, lightly stemmed."""

from __future__ import annotations

import itertools
import re
from functools import lru_cache

_WORD_RE = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?")
STOP_WORDS = frozenset(
    """a about above after again against all am an and any are aren't as at be because been before being below
    between both but by can can't cannot could couldn't did didn't do does doesn't doing don't down during each
    few for from further get gets got had hadn't has hasn't have haven't having he he's her here here's hers
    herself him himself his how how's i i'd i'll i'm i've if in into is isn't it it's its itself just let's me
    might more most must mustn't my myself need no nor not now of off on once only or other ought our ours
    ourselves out over own please same shall shan't she she's should shouldn't so some such tell than that
    that's the their theirs them themselves then there there's these they they'd they'll they're they've this
    those through to too under until up upon us very via want was wasn't we we'd we'll we're we've were weren't
    what what's when when's where where's whether which while who who's whom why why's will with won't would
    wouldn't yes yet you you'd you'll you're you've your yours yourself yourselves also may one""".split()
)
# words that frame a question rather than say what it is about ("how long does it take to ...")
QUESTION_FRAME_WORDS = frozenset(
    "long much many often soon take takes taking happen happens possible know find way ways tell explain "
    "anyone someone something anything thing things like work works".split()
)
_DOUBLE_END = re.compile(r"([b-df-hj-km-np-rtv-z])\1$")  # "resett" -> "reset" (not ll, ss, zz)


@lru_cache(maxsize=65_536)
def stem(word: str) -> str:
    """A light English stemmer: plurals, -ing, -ed, -ly, a final e (refunds/refunded/refunding -> refund)."""
    if len(word) <= 3 or word.isdigit():
        return word
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("sses"):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in ("ing", "ed", "ly"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    if word.endswith("e") and len(word) > 4:
        word = word[:-1]
    return _DOUBLE_END.sub(r"\1", word) if len(word) > 3 else word


def content_words(text: str) -> list[str]:
    """Stemmed content words of ``text``, in order, repeats kept."""
    words = _WORD_RE.findall(text.lower().replace("’", "'"))
    return [stem(w) for w in words if w not in STOP_WORDS and not (len(w) == 1 and not w.isdigit())]


def question_words(question: str) -> set[str]:
    """The content words of a question, without the words that only frame it."""
    frame = {stem(w) for w in QUESTION_FRAME_WORDS}
    words = set(content_words(question))
    return words - frame or words


def question_compounds(question: str) -> dict[str, tuple[str, str]]:
    """Adjacent question words written as one word ("user name" -> "username"): the joined stem and
    the two stems it stands for."""
    words = [w for w in _WORD_RE.findall(question.lower()) if w not in STOP_WORDS]
    return {stem(a + b): (stem(a), stem(b)) for a, b in itertools.pairwise(words) if a.isalpha() and b.isalpha()}
