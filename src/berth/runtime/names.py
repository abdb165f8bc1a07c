"""Container names: Docker's rule and generated adjective_noun names."""

from __future__ import annotations

import random
import re
from collections.abc import Callable

from berth.runtime.errors import InvalidContainerName

# Docker's validContainerNamePattern: at least two characters, an optional leading slash.
_NAME = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")

_ADJECTIVES = (  # noqa: SIM905 - a word list reads better as text
    "admiring adoring agitated amazing angry awesome blissful bold brave busy charming clever "
    "compassionate competent confident cool dazzling determined eager ecstatic elegant epic "
    "exciting fervent festive focused friendly frosty funny gallant gifted goofy gracious "
    "happy hopeful hungry infallible inspiring jolly jovial keen kind laughing loving lucid "
    "magical modest musing mystifying nervous nice nifty nostalgic objective optimistic "
    "peaceful pensive practical priceless quirky quizzical relaxed reverent romantic serene "
    "sharp silly sleepy stoic strange suspicious sweet tender thirsty trusting upbeat vibrant "
    "vigilant vigorous wizardly wonderful xenodochial youthful zealous zen"
).split()

_NOUNS = (  # noqa: SIM905 - a word list reads better as text
    "agnesi albattani allen archimedes babbage banach bardeen bartik bell blackwell bohr "
    "booth borg bose brahmagupta brattain burnell cannon carson cerf chandrasekhar clarke "
    "curie darwin davinci dijkstra einstein elion engelbart euclid euler fermat fermi feynman "
    "franklin galileo gauss goldberg goodall hamilton hawking heisenberg hopper hypatia "
    "jackson jang jemison johnson kalam kepler khorana knuth kowalevski lamarr lamport leakey "
    "liskov lovelace lumiere mayer mccarthy mcclintock meitner mendel mirzakhani montalcini "
    "moore morse napier newton nobel noether pare pascal payne perlman pike poincare ptolemy "
    "raman ramanujan ride ritchie roentgen rubin saha sammet shannon shaw shockley sinoussi "
    "snyder stonebraker swanson tesla thompson torvalds turing varahamihira villani wiles "
    "williams wilson wing wozniak wright yalow yonath"
).split()


def validate_container_name(name: str) -> str:
    """The name without its optional leading '/', or InvalidContainerName."""
    if not _NAME.match(name):
        raise InvalidContainerName(name)
    return name.removeprefix("/")


def generate_name(taken: Callable[[str], bool], rng: random.Random | None = None) -> str:
    """A free adjective_noun name; after a few collisions a digit is appended, like Docker."""
    rng = rng or random.Random()
    for attempt in range(64):
        name = f"{rng.choice(_ADJECTIVES)}_{rng.choice(_NOUNS)}"
        if attempt >= 3:
            name += str(rng.randrange(10 ** (1 + attempt // 8)))
        if not taken(name):
            return name
    # 64 collisions in a row: fall back to something certainly free
    return f"{rng.choice(_ADJECTIVES)}_{rng.getrandbits(64):016x}"
