"""Who is who: the rules that say two records may be one person, kept as data.

A reviewer reads this module, not the code that applies it (backend/services/identity/matching.py),
as OpenCRVS keeps its deduplication rules. Everything here is plain data:

- the transliteration tables from Russian and Kazakh Cyrillic to Latin: ICAO 9303
  (passports and their MRZ), the 2021 Kazakh Latin alphabet, BGN/PCGN; any other script
  goes through ``anyascii``;
- the reductions that make one *skeleton* of a name out of its romanizations (Russian,
  Kazakh, Uzbek, Kyrgyz, Mongolian spell ж as zh, j or dzh; х as kh, h, x or q ...);
- the weights of what agrees, the birth date window, the thresholds.
"""

from __future__ import annotations

# Doc 9303 Part 3, the transliteration of Cyrillic used in MRZs, with the Kazakh letters
# as Kazakhstan's passports write them.
ICAO_9303 = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh",
    "з": "z", "и": "i", "й": "i", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o",
    "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts",
    "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "ie", "ы": "y", "ь": "", "э": "e", "ю": "iu",
    "я": "ia", "ә": "a", "ғ": "g", "қ": "k", "ң": "n", "ө": "o", "ұ": "u", "ү": "u",
    "һ": "h", "і": "i",
}  # fmt: skip
# The Kazakh Latin alphabet of 2021 (presidential decree of 28 January 2021).
KAZAKH_LATIN_2021 = {
    "а": "a", "ә": "ä", "б": "b", "в": "v", "г": "g", "ғ": "ğ", "д": "d", "е": "e",
    "ё": "io", "ж": "j", "з": "z", "и": "i", "й": "i", "к": "k", "қ": "q", "л": "l",
    "м": "m", "н": "n", "ң": "ñ", "о": "o", "ө": "ö", "п": "p", "р": "r", "с": "s",
    "т": "t", "у": "u", "ұ": "ū", "ү": "ü", "ф": "f", "х": "h", "һ": "h", "ц": "s",
    "ч": "ch", "ш": "ş", "щ": "ş", "ъ": "", "ы": "y", "і": "ı", "ь": "", "э": "e",
    "ю": "iu", "я": "ia",
}  # fmt: skip
# BGN/PCGN 1947 for Russian, with the 1979 Kazakh letters.
BGN_PCGN = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "ë", "ж": "zh",
    "з": "z", "и": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o",
    "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts",
    "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu",
    "я": "ya", "ә": "ä", "ғ": "gh", "қ": "q", "ң": "ng", "ө": "ö", "ұ": "ū", "ү": "ü",
    "һ": "h", "і": "i",
}  # fmt: skip
TRANSLITERATIONS = {"icao_9303": ICAO_9303, "kazakh_latin_2021": KAZAKH_LATIN_2021,
                    "bgn_pcgn": BGN_PCGN}  # fmt: skip

# From a lower-case ASCII romanization to its skeleton, applied in this order: the
# spellings one letter receives in the romanizations of the region become one.
SKELETON_REDUCTIONS = (
    ("shch", "s"), ("dzh", "j"), ("zh", "j"), ("kh", "h"), ("gh", "g"), ("ch", "c"),
    ("sh", "s"), ("ts", "c"), ("ng", "n"), ("yu", "u"), ("iu", "u"), ("ya", "a"),
    ("ia", "a"), ("yo", "o"), ("io", "o"), ("ye", "e"), ("ph", "f"), ("x", "h"),
    ("q", "k"), ("w", "v"), ("y", "i"), ("dj", "j"), ("uo", "o"),
)  # fmt: skip
# Word endings Chinese pinyin gives Kazakh names (a vowel after a final consonant:
# Aidos → Aiduosi, Zhanuzakov → Zhanuzakefu), reduced after the letters above.
SKELETON_ENDINGS = (("fu", "v"), ("si", "s"), ("ke", "k"), ("te", "t"), ("le", "l"))

# The consonants of a skeleton, with those that romanizations swap made one: what is left
# of a name that Chinese pinyin spells with a vowel after every consonant (Жанұзақов,
# Zhanuzhakefu). Compared only when at least CONSONANTS_AT_LEAST remain, and worth
# CONSONANTS_WORTH of an agreement of the whole skeleton.
CONSONANT_MERGES = str.maketrans("rvwpdgzc", "lffbtkss", "aeiouy ")
CONSONANTS_AT_LEAST = 3
CONSONANTS_WORTH = 0.9

# What agrees, and how much it weighs in the score (0 to 1). A part that one of the two
# records lacks (no document on one side) is left out of the sum and of its weights.
WEIGHTS = {
    "surname": 0.25,
    "given_name": 0.30,
    "birth_date": 0.30,
    "sex": 0.05,
    "citizenship": 0.05,
    "document": 0.05,
}
# How far birth dates may agree, and what each kind of agreement is worth.
BIRTH_DATE_SCORES = {"exact": 1.0, "day_month_swapped": 0.8, "window": 0.7}
BIRTH_DATE_WINDOW_DAYS = 10
# A name part at least this similar (0-1, after transliteration) counts as agreeing.
NAME_AGREES = 0.80
# A name part less similar than its floor says two people (twins, siblings, another
# family born the same day): the score is cut by the factor.
NAME_FLOORS = {"surname": 0.80, "given_name": 0.85}
NAME_DIFFERS_FACTOR = 0.75
# The same document number (normalised) of the same country: nearly certain.
SAME_DOCUMENT_SCORE = 0.97
# Two real (not generated) IINs that differ are two people, whatever else agrees.
DIFFERENT_REAL_IINS_SCORE = 0.0
# Birth dates further apart than the window, and no common document: at most a typo.
OTHER_BIRTH_DATE_FACTOR = 0.5

# A candidate worth showing; a likely duplicate, which opens a review item.
CANDIDATE_THRESHOLD = 0.60
DUPLICATE_THRESHOLD = 0.85
# At most this many candidates are scored and returned.
MAX_CANDIDATES = 10
# Rows each block may bring back (a very common name on a common date): the birth date
# and the surname's skeleton each, and the document number (held by a handful at most).
BLOCK_LIMIT = 300
DOCUMENT_BLOCK_LIMIT = 20
