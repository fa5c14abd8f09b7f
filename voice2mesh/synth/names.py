"""Unique VGGFace-style names (``First_Last``) with realistic initials and nationalities.

VoxCeleb1 splits identities by the initial of the name (A–E test: 301 of 1,251, 24 %), so the
first-name initial is drawn from letter weights that put about 23 % of names in A–E. Some names
carry the punctuation real VGGFace folder names have: initials with dots (``A.J._Buckley``),
hyphens (``Jean-Luc_Moreau``) and apostrophes (``Conan_O'Brien``).
"""

from __future__ import annotations

import numpy as np

# Per initial: "male names | female names".
_FIRST_NAMES_TABLE = """
A: Aaron Adrian Ahmed Alan Andre | Abigail Ada Alicia Amara Anna
B: Ben Bernard Bilal Boris Bruno | Beatrice Bella Bianca Brenda Bo-Young
C: Carlos Chen Christopher Colin Cyril | Camila Carmen Chloe Claire Cora
D: Damian Daniel Dev Dmitri Dustin | Dalia Daphne Deborah Diana Dolores
E: Eduardo Elijah Emeka Eoin Erik | Elena Eliza Emma Esther Eva
F: Fabio Farhan Felix Finn Frank | Fatima Felicity Fiona Florence Frida
G: Gabriel Gareth Gilles Gordon Gustavo | Gabriela Gemma Gina Grace Greta
H: Hamid Hans Harvey Hiro Hugo | Hailey Hana Heather Helena Hope
I: Ian Ibrahim Igor Ivan Isaac | Ida Ines Ingrid Irene Isabel
J: Jack Jamal Javier Jean-Luc Jonas | Jade Janet Jia Julia June
K: Kai Karl Kenji Kevin Kwame | Kara Katarina Keiko Kim Kylie
L: Lars Leon Liam Lorenzo Luis | Laila Laura Lena Lucia Lydia
M: Malik Marco Mateo Mikhail Moon | Maja Marie Maya Mei Moira
N: Nathan Nikolai Nils Noah Nuno | Nadia Naomi Natalie Nina Nora
O: Oliver Omar Oscar Otto Owen | Odette Olga Olivia Ophelia Oksana
P: Pablo Patrick Pedro Pierre Pranav | Paula Penelope Petra Priya Pia
Q: Quentin Quincy | Queenie Quinn
R: Rafael Rajesh Ramon Rory Ryan | Rachel Rania Rebecca Rosa Ruth
S: Samuel Sergei Simon Stefan Suraj | Sabine Sara Selena Sofia Sun-Hee
T: Tariq Theo Thomas Tobias Tomasz | Tamara Tessa Thandiwe Tilda Tina
U: Ulrich Umar Uwe | Uma Ursula Ulla
V: Valentin Victor Vikram Vincent Viktor | Valeria Vanessa Vera Violet Vivian
W: Walter Wei Wesley William Woody | Wanda Wendy Whitney Willa Wen
X: Xavier Xiang | Ximena Xiu
Y: Yannick Yasin Yuri Yusuf | Yara Yasmin Yoko Yvonne
Z: Zachary Zane Zoltan | Zara Zoe Zuzana
"""

FIRST_NAMES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    row[0]: tuple(tuple(half.split()) for half in row[3:].split("|"))
    for row in _FIRST_NAMES_TABLE.strip().splitlines()
}

# Relative frequency of first-name initials (A–E ≈ 23 %).
LETTER_WEIGHTS: dict[str, float] = {
    "A": 5.0,
    "B": 4.0,
    "C": 4.5,
    "D": 4.0,
    "E": 2.5,
    "F": 2.5,
    "G": 3.5,
    "H": 3.0,
    "I": 1.5,
    "J": 8.5,
    "K": 4.5,
    "L": 4.5,
    "M": 8.5,
    "N": 3.0,
    "O": 1.5,
    "P": 3.5,
    "Q": 0.3,
    "R": 5.5,
    "S": 7.5,
    "T": 4.5,
    "U": 0.4,
    "V": 2.0,
    "W": 2.5,
    "X": 0.3,
    "Y": 1.0,
    "Z": 1.0,
}

SURNAMES: tuple[str, ...] = tuple(
    """
    Abbott Adeyemi Alvarez Andersson Bachleda Baker Banerjee Becker Bergstrom Bianchi Bloodgood
    Brennan Buckley Carson Castillo Chandra Chen Costa Cruz D'Angelo Dubois Dufresne Eriksen
    Farrell Fischer Fontaine Garcia Gomez Gupta Haddad Hansen Harrelson Hoffmann Ibarra Ito
    Ivanova Jansen Jovanovic Kapoor Kato Keller Kim Kowalski Kruger Larsen Laurent Lee Lewis Li
    Lindqvist Lopez Macken Marini Martins McAllister Mendes Moreau Morrison Mueller Murphy
    Nakamura Nguyen Novak Nowak O'Brien O'Connor Okafor Olsen Ortega Park Patel Perez Petrov
    Quinn Ramirez Rao Reyes Richter Rossi Russo Sato Schmidt Sharma Silva Smith-Jones Sorensen
    Suzuki Tanaka Taylor Torres Tudyk Van_der_Berg Vargas Vasquez Volkov Wagner Walsh Watanabe
    Weber Wilson Wong Yamamoto Yilmaz Young Zhang Zielinski Zimmermann
    """.split()
)

NATIONALITIES: tuple[str, ...] = tuple(
    "USA|USA|USA|UK|UK|Canada|Australia|India|Germany|France|Ireland|Italy|Spain|Mexico|Brazil|"
    "Norway|Sweden|Japan|China|South Korea|Nigeria|Poland|Russia|Netherlands|New Zealand".split("|")
)


def _first_name(rng: np.random.Generator, gender: str, letters: list[str], p: np.ndarray) -> str:
    letter = letters[rng.choice(len(letters), p=p)]
    male, female = FIRST_NAMES[letter]
    options = male if gender == "male" else female
    name = options[rng.integers(len(options))]
    if rng.random() < 0.04:  # a middle initial in dotted form, e.g. "A.J."
        name = f"{name[0]}.{rng.choice(list('ABCDJKMRT'))}."
    return name


def make_names(genders: list[str], rng: np.random.Generator) -> list[str]:
    """One unique ``First_Last`` name per gender entry, in order."""
    letters = sorted(LETTER_WEIGHTS)
    p = np.array([LETTER_WEIGHTS[c] for c in letters])
    p = p / p.sum()
    names: list[str] = []
    taken: set[str] = set()
    for gender in genders:
        for _ in range(1000):
            candidate = (
                f"{_first_name(rng, gender, letters, p)}_{SURNAMES[rng.integers(len(SURNAMES))]}"
            )
            if candidate not in taken:
                break
        else:
            raise RuntimeError("ran out of unique names; extend SURNAMES")
        taken.add(candidate)
        names.append(candidate)
    return names


def make_nationalities(n: int, rng: np.random.Generator) -> list[str]:
    """``n`` nationalities drawn with VoxCeleb-like frequencies (USA-heavy)."""
    return [NATIONALITIES[i] for i in rng.integers(len(NATIONALITIES), size=n)]
