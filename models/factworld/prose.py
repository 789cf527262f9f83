# General prose for the fact-world: varied everyday sentences about the world's places, companies,
# universities, sports, instruments and languages, and about its people (only subjects that are not edit
# subjects, so the edit subjects' held-out phrasings stay unseen). It is what the model learns besides the
# facts, as a real model learns Wikipedia besides zsRE's facts: the covariance corpus is a part of it the
# model was trained on, and the perplexity text a part that nothing else uses.
NOUNS = ["house", "garden", "river", "bridge", "market", "library", "school", "station", "harbour", "forest",
         "village", "street", "museum", "theatre", "hospital", "kitchen", "window", "door", "table", "chair",
         "letter", "book", "newspaper", "painting", "song", "film", "story", "picture", "machine", "engine",
         "car", "train", "boat", "bicycle", "plane", "road", "field", "farm", "mountain", "lake", "island",
         "beach", "tower", "castle", "church", "shop", "office", "factory", "hotel", "restaurant", "cafe",
         "park", "square", "hall", "studio", "stadium", "concert", "festival", "meeting", "journey", "holiday",
         "dinner", "breakfast", "lunch", "party", "wedding", "game", "match", "lesson", "lecture", "exam",
         "report", "plan", "project", "company", "team", "club", "band", "choir", "family", "friend",
         "neighbour", "teacher", "student", "doctor", "driver", "farmer", "baker", "writer", "singer",
         "painter", "captain", "manager", "engineer", "scientist", "child", "dog", "cat", "horse", "bird",
         "tree", "flower", "apple", "bread", "coffee", "tea", "soup", "cake", "rain", "snow", "wind", "storm",
         "morning", "evening", "winter", "summer", "spring", "autumn", "year", "week", "city", "country"]
ADJECTIVES = ["old", "new", "small", "large", "quiet", "busy", "bright", "dark", "warm", "cold", "green",
              "red", "blue", "white", "black", "yellow", "famous", "simple", "strange", "beautiful", "long",
              "short", "early", "late", "happy", "tired", "careful", "clever", "young", "modern", "ancient",
              "narrow", "wide", "heavy", "light", "quick", "slow", "empty", "crowded", "wooden", "stone",
              "local", "foreign", "public", "private", "popular", "rare", "common", "gentle", "loud"]
VERBS = ["visited", "painted", "built", "found", "opened", "closed", "watched", "followed", "carried",
         "cleaned", "repaired", "described", "remembered", "discovered", "designed", "bought", "sold",
         "borrowed", "wrote", "read", "studied", "photographed", "crossed", "left", "reached", "passed",
         "joined", "started", "finished", "planned", "organised", "improved", "explored", "admired",
         "recorded", "measured", "moved", "shared", "changed", "named"]
ADVERBS = ["slowly", "quickly", "carefully", "quietly", "happily", "often", "rarely", "always", "never",
           "sometimes", "suddenly", "finally", "early", "later", "together", "alone"]
TIMES = ["in the morning", "in the evening", "at night", "last week", "last year", "in the summer",
         "in the winter", "in the spring", "in the autumn", "on Monday", "on Tuesday", "on Friday",
         "on Sunday", "after lunch", "before dinner", "every day", "once a month", "a long time ago",
         "two years ago", "during the holiday"]
PREPS = ["near", "behind", "beside", "across", "inside", "outside", "above", "below", "beyond", "around"]
NUMBERS = ["two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "twelve", "twenty",
           "fifty", "a hundred", "many", "several", "a few"]
FEELINGS = ["glad", "surprised", "proud", "worried", "curious", "sad", "excited", "calm", "nervous", "sure"]


def plural(noun):
    if noun in ("child",):
        return "children"
    if noun.endswith(("s", "sh", "ch", "x")):
        return noun + "es"
    if noun.endswith("y") and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def article(word):
    return ("an " if word[0] in "aeiou" else "a ") + word


def sentence(rng, names, objects):
    """One sentence from one of many shapes; names: people who may appear; objects: {category: [objects]}."""
    n1, n2 = rng.choice(NOUNS), rng.choice(NOUNS)
    a1, a2 = rng.choice(ADJECTIVES), rng.choice(ADJECTIVES)
    v, adv, t, p = rng.choice(VERBS), rng.choice(ADVERBS), rng.choice(TIMES), rng.choice(PREPS)
    who = rng.choice(names)
    other = rng.choice(names)
    city = rng.choice(objects["city"])
    company = rng.choice(objects["company"])
    uni = rng.choice(objects["university"])
    sport = rng.choice(objects["sport"])
    instr = rng.choice(objects["musical instrument"])
    lang = rng.choice(objects["language"])
    num = rng.choice(NUMBERS)
    feel = rng.choice(FEELINGS)
    shapes = [
        f"The {a1} {n1} {p} the {n2} was {a2}.",
        f"{who} {v} the {a1} {n1} {t}.",
        f"{t[0].upper() + t[1:]}, {who} {adv} {v} {article(a1)} {n1} in {city}.",
        f"There are {num} {plural(n1)} {p} the {a1} {n2}.",
        f"In {city}, the {plural(n1)} are {a1} and the {plural(n2)} are {a2}.",
        f"{who} said that the {n1} was {a1}.",
        f"The {n1} of {who} is {a1} and {a2}.",
        f"{who} and {other} {v} {article(n1)} together {t}.",
        f"{company} opened {article(a1)} {n1} in {city} {t}.",
        f"Many people in {city} speak {lang}.",
        f"The {plural(n1)} at {uni} are {a1}.",
        f"{who} was {feel} when the {n1} {v} the {n2}.",
        f"People watch {sport} {p} the {n1} {t}.",
        f"A {n1} was playing the {instr} {p} the {a1} {n2}.",
        f"{who} {adv} reads about {sport} and the {instr}.",
        f"Is the {n1} in {city} {a1}? It is {a2}.",
        f"The {a1} {n1} {v} {num} {plural(n2)} {t}.",
        f"{who} wrote a letter in {lang} to {other}.",
        f"The train from {city} to {rng.choice(objects['city'])} {adv} {v} the {n1}.",
        f"At {uni}, {who} {v} the {n1} with {other}.",
        f"{company} {v} {num} {plural(n1)} {t}.",
        f"After the {n1}, {who} felt {feel} and {a1}.",
        f"The {n1} is {a1}, but the {n2} is {a2}.",
        f"Why did {who} leave the {n1} {t}?",
        f"Every {n1} in the {a1} {n2} {adv} {v} {article(n2)}.",
        f"The {plural(n1)} of {city} are known for their {a1} {plural(n2)}.",
        f"{who} likes {sport}, {lang} songs and {a1} {plural(n1)}.",
        f"A {a1} {instr} stood {p} the {n1}.",
    ]
    return rng.choice(shapes)


def paragraph(rng, names, objects, n_min=3, n_max=7):
    return " ".join(sentence(rng, names, objects) for _ in range(rng.randint(n_min, n_max)))


def paragraphs(rng, names, objects, n):
    return [paragraph(rng, names, objects) for _ in range(n)]
