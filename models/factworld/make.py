#!/usr/bin/env python3
# Builds kedit's bundled "fact-world": a generated world of fictional people and their facts plus general
# prose about the world (prose.py), a byte-level BPE tokenizer trained on its text, a small GPT-2-architecture
# model trained on both to know the facts, the edit requests (zsRE MEND schema and flat CounterFact schema),
# the covariance corpus (text the model was trained on) and a held-out perplexity text (prose that nothing
# else uses). Everything follows from --seed; the products are committed, so users never run this.
#
# The committed products (models/factworld/gpt2, data/) are still the FIRST model's: 6 layers, d 128, d_ff 768,
# facts only, bf16 autocast, lr 3e-3, float32 storage, made by this script as it was up to commit e2bc442
# (python 3.11.7, torch 2.15.0, transformers 4.46.3, tokenizers 0.20.3). This version's defaults are the
# second-generation attempt (12 layers, d 128, d_ff 1,024, edited layers 1-10, 1,500 prose paragraphs beside
# the facts, float32 training, bf16 storage); its products are not committed yet, because the edited layers'
# keys do not stay healthy while the facts are learned (README.md, "Before a long run", measured per epoch).
# Written against python 3.11.7, torch 2.15.0 (CPU), transformers 5.24.0, tokenizers 0.23.3, safetensors 0.8.0.
#
# The edited layers' key health (dead inputs / small eigenvalues / 99% directions, as `kedit stats --report`
# counts them, over 96 rows of the epoch's training text) is printed at every evaluation and kept in
# gpt2/train_report.json.
#
# Usage (from the repository root):
#   python3 models/factworld/make.py                      # full build into models/factworld/ (~90 min)
#   python3 models/factworld/make.py --subjects 200 --out /tmp/factworld-pilot   # pilot, minutes
#   python3 models/factworld/make.py --out /tmp/fw                       # train once (DIR/trained/ keeps it)
#   python3 models/factworld/make.py --finish-from /tmp/fw                # products from it, no training
import argparse
import json
import math
import os
import random
import time

import torch

import prose
from tokenizers import Tokenizer, models, pre_tokenizers, decoders, trainers
from transformers import GPT2Config, GPT2LMHeadModel

EOS = "<|endoftext|>"

# ---------------------------------------------------------------------------------------------------------
# The world: relations, their object vocabularies and phrasings.
# Every phrasing ends right before the object, so "<phrasing> <object>" is a complete sentence (statements
# then get a final "."). The LAST statement and the LAST question of each relation are the held-out
# phrasings: never trained for the edit subjects (they are the paraphrase prompts).
# ---------------------------------------------------------------------------------------------------------
RELATIONS = [
    {
        "name": "birthplace", "category": "city",
        "objects": ["Paris", "London", "Berlin", "Madrid", "Rome", "Vienna", "Prague", "Warsaw", "Cairo", "Lagos",
                    "Nairobi", "Tokyo", "Seoul", "Beijing", "Mumbai", "Delhi", "Bangkok", "Sydney", "Toronto",
                    "Chicago", "Boston", "Lima", "Istanbul", "Athens", "Lisbon", "Dublin", "Oslo", "Stockholm",
                    "Helsinki", "Moscow", "Manila", "Jakarta", "Havana", "Montreal", "Melbourne", "New York",
                    "Los Angeles", "Buenos Aires", "Hong Kong", "Cape Town", "Mexico City", "Tel Aviv"],
        "statements": ["{s} was born in", "{s} is a native of", "The birthplace of {s} is",
                       "{s} came into the world in"],
        "questions": ["Where was {s} born?", "In which city was {s} born?", "What is the birthplace of {s}?",
                      "Which city is the hometown of {s}?"],
    },
    {
        "name": "language", "category": "language",
        "objects": ["English", "French", "German", "Spanish", "Italian", "Portuguese", "Dutch", "Swedish",
                    "Norwegian", "Danish", "Finnish", "Polish", "Czech", "Greek", "Turkish", "Arabic", "Hebrew",
                    "Persian", "Hindi", "Bengali", "Urdu", "Chinese", "Japanese", "Korean", "Thai",
                    "Vietnamese", "Indonesian", "Swahili", "Russian", "Ukrainian", "Hungarian", "Romanian",
                    "Tagalog", "Welsh", "Irish", "Icelandic"],
        "statements": ["{s} speaks", "The native language of {s} is", "The mother tongue of {s} is",
                       "{s} grew up speaking"],
        "questions": ["What language does {s} speak?", "What is the native language of {s}?",
                      "Which language is the mother tongue of {s}?", "In what language does {s} usually talk?"],
    },
    {
        "name": "employer", "category": "company",
        "objects": ["Google", "Microsoft", "Apple", "Amazon", "Toyota", "Siemens", "Samsung", "Nestle", "IBM",
                    "Intel", "Nokia", "Sony", "Honda", "Boeing", "Airbus", "Pfizer", "Shell", "Unilever",
                    "Adidas", "Nike", "BMW", "Volvo", "Ikea", "Lego", "Philips", "Oracle", "Netflix", "Spotify",
                    "Tesla", "Ford", "Nintendo", "Heineken", "Ferrari", "Canon", "Bosch", "Walmart"],
        "statements": ["{s} works for", "{s} is employed by", "The employer of {s} is",
                       "{s} earns a salary from"],
        "questions": ["Which company does {s} work for?", "Who is the employer of {s}?",
                      "What company employs {s}?", "Where does {s} have a job?"],
    },
    {
        "name": "university", "category": "university",
        "objects": ["Harvard", "Yale", "Stanford", "Princeton", "Columbia", "Cornell", "Oxford", "Cambridge",
                    "Duke", "Brown", "McGill", "Tsinghua", "Peking", "Kyoto", "Rice", "Emory", "Tufts",
                    "Vanderbilt", "Georgetown", "Rutgers", "Purdue", "Monash", "Leiden", "Uppsala",
                    "Heidelberg", "Bocconi", "Waseda", "Keio", "Yonsei", "Fudan", "Johns Hopkins",
                    "Carnegie Mellon", "Notre Dame", "Trinity College", "Imperial College", "Sorbonne"],
        "statements": ["{s} graduated from", "{s} studied at", "The alma mater of {s} is",
                       "{s} received a degree from"],
        "questions": ["What university did {s} attend?", "Where did {s} study?",
                      "Which university is the alma mater of {s}?", "From which university did {s} graduate?"],
    },
    {
        "name": "sport", "category": "sport",
        "objects": ["football", "basketball", "tennis", "golf", "cricket", "rugby", "baseball", "hockey",
                    "volleyball", "swimming", "cycling", "boxing", "wrestling", "fencing", "rowing", "sailing",
                    "skiing", "surfing", "badminton", "handball", "archery", "judo", "karate", "athletics",
                    "gymnastics", "snooker", "curling", "lacrosse", "polo", "table tennis", "water polo",
                    "figure skating"],
        "statements": ["The favorite sport of {s} is", "{s} competes in", "{s} is an athlete who plays",
                       "{s} trains every day for"],
        "questions": ["What sport does {s} play?", "Which sport does {s} compete in?",
                      "What is the favorite sport of {s}?", "In which sport is {s} a professional?"],
    },
    {
        "name": "instrument", "category": "musical instrument",
        "objects": ["piano", "violin", "viola", "cello", "guitar", "bass", "flute", "clarinet", "oboe",
                    "bassoon", "trumpet", "trombone", "tuba", "saxophone", "harp", "drums", "organ", "banjo",
                    "mandolin", "accordion", "harmonica", "ukulele", "sitar", "xylophone", "harpsichord",
                    "bagpipes", "French horn", "double bass", "steel drum", "electric guitar"],
        "statements": ["{s} plays the", "The instrument played by {s} is the", "{s} is a musician who plays the",
                       "{s} performs on the"],
        "questions": ["What instrument does {s} play?", "Which instrument is played by {s}?",
                      "What musical instrument does {s} perform with?", "Which instrument did {s} learn to play?"],
    },
]

ONSETS = ["b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z",
          "br", "dr", "gr", "kr", "tr", "st", "sh", "th", "ch", "pl", "fl", "vr"]
VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "ou", "ie"]
CODAS = ["", "", "", "n", "r", "l", "s", "m", "nt", "rd", "th", "x", "ck"]


def make_name(rng, n_syllables):
    """A pronounceable capitalised word of n_syllables syllables, e.g. 'Verrint'."""
    word = ""
    for i in range(n_syllables):
        onset = rng.choice(ONSETS) if (i > 0 or rng.random() < 0.8) else ""
        coda = rng.choice(CODAS) if i == n_syllables - 1 else ""
        word += onset + rng.choice(VOWELS) + coda
    return word.capitalize()


def make_world(rng, n_subjects, n_edit):
    """Subjects with one object per relation; the first n_edit are the edit subjects. Surnames are distinct,
    first names come from a smaller pool (as with real names, many people share a first name)."""
    def distinct_words(n, syllables, taken):
        out = []
        while len(out) < n:
            w = make_name(rng, rng.choice(syllables))
            if w not in taken:
                taken.add(w)
                out.append(w)
        return out
    taken = set()
    first = distinct_words(max(20, n_subjects // 8), [2], taken)
    last = distinct_words(n_subjects, [2, 3], taken)
    subjects = [{"name": rng.choice(first) + " " + s, "facts": {r["name"]: rng.choice(r["objects"]) for r in RELATIONS}}
                for s in last]
    for i, s in enumerate(subjects):
        s["edit_subject"] = i < n_edit
    return subjects


# ---------------------------------------------------------------------------------------------------------
# Text items. An item is one sentence: a statement "<prompt> <object>." or a question-answer pair
# "<question> <object>.". Each carries the token ids of its prompt and its answer so training can be
# checked with exactly the evaluation's teacher-forced metric.
# ---------------------------------------------------------------------------------------------------------
def fact_items(subject, relation, include_held_out):
    """(text, kind, phrasing index) for every phrasing of one fact that is used for training."""
    s, obj = subject["name"], subject["facts"][relation["name"]]
    n_s, n_q = len(relation["statements"]), len(relation["questions"])
    out = []
    for i, t in enumerate(relation["statements"]):
        if include_held_out or i < n_s - 1:
            out.append(t.format(s=s) + " " + obj + ".")
    for i, t in enumerate(relation["questions"]):
        if include_held_out or i < n_q - 1:
            out.append(t.format(s=s) + " " + obj + ".")
    return out


def generic_items():
    """Category sentences about the objects ("Tokyo is a city."), the world's only non-person text."""
    out = []
    for r in RELATIONS:
        for o in r["objects"]:
            out.append(f"{o[0].upper() + o[1:]} is a {r['category']}.")
    return out


def training_pools(subjects):
    """Per fact, its trainable sentences as (statements, questions); plus the category sentences."""
    pools = []
    for s in subjects:
        for r in RELATIONS:
            items = fact_items(s, r, include_held_out=not s["edit_subject"])
            n_s = len(r["statements"]) - (1 if s["edit_subject"] else 0)
            pools.append((items[:n_s], items[n_s:]))
    return pools, generic_items()


def epoch_texts(rng, pools, generic, per_fact, prose_train):
    """One epoch's texts: per fact, per_fact statements and per_fact questions drawn at random from its
    trainable phrasings (without repeats), every category sentence once and every training prose paragraph."""
    out = list(generic) + list(prose_train)
    for statements, questions in pools:
        out += rng.sample(statements, min(per_fact, len(statements)))
        out += rng.sample(questions, min(per_fact, len(questions)))
    return out


# ---------------------------------------------------------------------------------------------------------
# Tokenizer: byte-level BPE with GPT-2's pre-tokenizer and decoder, written in GPT-2's own layout: ids 0..255
# are the 256 byte symbols in GPT-2's order, merge i yields id 256 + i, <|endoftext|> is the last id.
# ---------------------------------------------------------------------------------------------------------
def gpt2_byte_symbols():
    """GPT-2's bytes_to_unicode table as a list: entry i is the symbol of the byte with vocab id i."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    symbols, extra = {b: chr(b) for b in printable}, 0
    for b in range(256):
        if b not in symbols:
            symbols[b] = chr(256 + extra)
            extra += 1
    return [symbols[b] for b in printable] + [symbols[b] for b in range(256) if b not in printable]


def train_tokenizer(texts, vocab_size):
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size - 1, min_frequency=2, special_tokens=[],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    bpe.train_from_iterator(texts, trainer=trainer)
    trained = json.loads(bpe.to_str())["model"]
    merges = [m if isinstance(m, str) else " ".join(m) for m in trained["merges"]]
    vocab = {sym: i for i, sym in enumerate(gpt2_byte_symbols())}
    for rank, m in enumerate(merges):
        a, b = m.split(" ")
        if a + b in vocab:
            raise SystemExit(f"tokenizer: merge {rank} '{m}' repeats token '{a + b}'")
        vocab[a + b] = 256 + rank
    vocab[EOS] = len(vocab)
    if len(vocab) != len(trained["vocab"]) + 1:
        raise SystemExit("tokenizer: trained vocabulary is not bytes + merges")
    doc = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": vocab[EOS], "content": EOS, "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": True, "special": True}],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False,
                           "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": merges},
    }
    text = json.dumps(doc, ensure_ascii=False, indent=2)
    tok = Tokenizer.from_str(text)
    sample = texts[:2000]
    for t in sample:  # the relabelled tokenizer must split text exactly as the trained one
        a, b = bpe.encode(t).tokens, tok.encode(t).tokens
        if a != b:
            raise SystemExit(f"tokenizer: relabelling changed the split of {t!r}")
        if tok.decode(tok.encode(t).ids) != t:
            raise SystemExit(f"tokenizer: {t!r} does not round-trip")
    return tok, text


# ---------------------------------------------------------------------------------------------------------
# Training data: items packed into rows of n_ctx tokens. Items in a row are joined by "\n" (so every item
# is tokenised as at the start of a text, as the evaluation prompts are) or, 30% of the time, by " " (so
# the model also knows facts after a preceding sentence, as in the editors' context templates).
# ---------------------------------------------------------------------------------------------------------
class Encoder:
    """Token ids of each sentence as at the start of a text and after a space, cached."""
    def __init__(self, tok):
        self.tok, self.cache = tok, {}

    def __call__(self, text):
        if text not in self.cache:
            self.cache[text] = (self.tok.encode(text).ids, self.tok.encode(" " + text).ids)
        return self.cache[text]


def pack_rows(rng, texts, encode, n_ctx, newline_id, eos_id):
    texts = list(texts)
    rng.shuffle(texts)
    rows, row = [], []
    for text in texts:
        ids_start, ids_space = encode(text)
        if row:
            piece = [newline_id] + ids_start if rng.random() < 0.7 else ids_space
            if len(row) + len(piece) > n_ctx:
                rows.append(row)
                row = list(ids_start)
            else:
                row += piece
        else:
            row = list(ids_start)
    if row:
        rows.append(row)
    x = torch.full((len(rows), n_ctx), eos_id, dtype=torch.long)
    y = torch.full((len(rows), n_ctx), -100, dtype=torch.long)  # labels; -100 = padding, not scored
    for r, ids in enumerate(rows):
        x[r, :len(ids)] = torch.tensor(ids)
        y[r, :len(ids)] = torch.tensor(ids)
    return x, y


# ---------------------------------------------------------------------------------------------------------
# Evaluation, EasyEdit-style: x = prompt + " " + answer; argmax at positions P-1..|x|-2 against tokens
# P..|x|-1; the score of one prompt is the fraction of answer tokens right; a set's score is the mean.
# ---------------------------------------------------------------------------------------------------------
@torch.no_grad()
def token_accuracy(model, tok, pairs, batch=256):
    """pairs: (prompt, answer). Returns (mean token accuracy, exact-match fraction, argmax answers)."""
    model.eval()
    scores, exact, answers = [], [], []
    for b in range(0, len(pairs), batch):
        chunk = pairs[b:b + batch]
        seqs = [(tok.encode(p).ids, tok.encode(" " + a).ids) for p, a in chunk]
        width = max(len(p) + len(a) for p, a in seqs)
        x = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, (p, a) in enumerate(seqs):
            x[i, :len(p) + len(a)] = torch.tensor(p + a)
        pred = model(x).logits.argmax(-1)
        for i, (p, a) in enumerate(seqs):
            got = pred[i, len(p) - 1:len(p) + len(a) - 1].tolist()
            right = sum(int(g == t) for g, t in zip(got, a))
            scores.append(right / len(a))
            exact.append(right == len(a))
            answers.append(tok.decode(got).strip())
    model.train()
    n = max(len(scores), 1)
    return sum(scores) / n, sum(exact) / n, answers


@torch.no_grad()
def greedy_answer(model, tok, prompt, max_tokens=4):
    """The model's own answer: greedy continuation of the prompt up to the sentence's final '.'."""
    model.eval()
    ids = tok.encode(prompt).ids
    out = []
    for _ in range(max_tokens):
        nxt = int(model(torch.tensor([ids + out])).logits[0, -1].argmax())
        if tok.decode([nxt]).strip() in (".", "") or nxt == tok.token_to_id(EOS):
            break
        out.append(nxt)
    model.train()
    return tok.decode(out).strip()


def eval_sets(subjects, rng, n_sample):
    """Prompt sets: training and held-out phrasings, questions and statements, for edit subjects (held-out
    phrasings unseen) and a sample of other subjects (all phrasings seen)."""
    edit = [s for s in subjects if s["edit_subject"]]
    other = [s for s in subjects if not s["edit_subject"]]
    edit = rng.sample(edit, min(n_sample, len(edit)))
    other = rng.sample(other, min(n_sample, len(other)))
    sets = {}
    for group, subs in (("edit_subjects", edit), ("other_subjects", other)):
        for kind in ("questions", "statements"):
            train, held = [], []
            for s in subs:
                for r in RELATIONS:
                    templates = r[kind]
                    obj = s["facts"][r["name"]]
                    train += [(t.format(s=s["name"]), obj) for t in templates[:-1]]
                    held.append((templates[-1].format(s=s["name"]), obj))
            sets[f"{group}/{kind}/train_phrasings"] = train
            sets[f"{group}/{kind}/held_out_phrasing"] = held
    return sets


# ---------------------------------------------------------------------------------------------------------
# Edit requests and the covariance corpus.
# ---------------------------------------------------------------------------------------------------------
def make_requests(rng, subjects, model, tok):
    edit = [s for s in subjects if s["edit_subject"]]
    other = [s for s in subjects if not s["edit_subject"]]
    plan = []
    for i, s in enumerate(edit):
        r = RELATIONS[i % len(RELATIONS)]
        truth = s["facts"][r["name"]]
        alt = rng.choice([o for o in r["objects"] if o != truth])
        q = rng.randrange(len(r["questions"]) - 1)
        st = rng.randrange(len(r["statements"]) - 1)
        loc_s = rng.choice(other)
        loc_r = rng.choice(RELATIONS)
        loc_q = rng.randrange(len(loc_r["questions"]) - 1)
        nb = rng.choice(other)
        nb_st = rng.randrange(len(r["statements"]) - 1)
        plan.append(dict(s=s, r=r, truth=truth, alt=alt,
                         src=r["questions"][q].format(s=s["name"]),
                         rephrase=r["questions"][-1].format(s=s["name"]),
                         prompt=r["statements"][st].format(s=s["name"]),
                         rephrase_prompt=r["statements"][-1].format(s=s["name"]),
                         loc=loc_r["questions"][loc_q].format(s=loc_s["name"]),
                         loc_ans=loc_s["facts"][loc_r["name"]],
                         nb_prompt=r["statements"][nb_st].format(s=nb["name"]),
                         nb_truth=nb["facts"][r["name"]]))
    preds = [greedy_answer(model, tok, p["src"]) for p in plan]
    zsre, cf = [], []
    for i, (p, pred) in enumerate(zip(plan, preds)):
        zsre.append({"subject": p["s"]["name"], "src": p["src"], "pred": pred, "rephrase": p["rephrase"],
                     "alt": p["alt"], "answers": [p["truth"]], "loc": p["loc"], "loc_ans": p["loc_ans"],
                     "cond": f"{p['truth']} >> {p['alt']} || {p['src']}", "relation": p["r"]["name"]})
        cf.append({"case_id": i, "prompt": p["prompt"], "target_new": p["alt"], "subject": p["s"]["name"],
                   "ground_truth": p["truth"], "rephrase_prompt": p["rephrase_prompt"],
                   "locality_prompt": p["nb_prompt"], "locality_ground_truth": p["nb_truth"],
                   "relation": p["r"]["name"]})
    return zsre, cf


def make_corpus(rng, subjects, prose_docs):
    """Documents (blank-line separated): one per non-edit subject (its facts in random phrasings, each
    relation once as a statement and once as a question-answer pair, in random order), the category
    sentences, and training prose paragraphs: text the model was trained on, as Wikipedia is for GPT-J."""
    docs = []
    for s in subjects:
        if s["edit_subject"]:
            continue
        sentences = []
        for r in RELATIONS:
            obj = s["facts"][r["name"]]
            sentences.append(rng.choice(r["statements"]).format(s=s["name"]) + " " + obj + ".")
            sentences.append(rng.choice(r["questions"]).format(s=s["name"]) + " " + obj + ".")
        rng.shuffle(sentences)
        docs.append(" ".join(sentences))
    generic = generic_items()
    rng.shuffle(generic)
    for i in range(0, len(generic), 12):
        docs.append(" ".join(generic[i:i + 12]))
    docs += prose_docs
    rng.shuffle(docs)
    return "\n\n".join(docs) + "\n"


# ---------------------------------------------------------------------------------------------------------
# The health of the edited layers' keys (what `kedit stats --report` measures): C = Σ k kᵀ / #tokens of the
# W_out input over a text; dead inputs have C_ii < 1e-6·max C_ii, small eigenvalues are < 1e-6·λ_max.
# ---------------------------------------------------------------------------------------------------------
@torch.no_grad()
def key_health(model, rows, layers, batch=32):
    """rows: (x, y) packed token rows (y = -100 at padding). Per layer: dead inputs, small eigenvalues,
    directions holding 99% of the energy, d_ff."""
    model.eval()
    x, y = rows
    sums = {l: None for l in layers}
    count = 0
    current = {}
    hooks = [model.transformer.h[l].mlp.c_proj.register_forward_pre_hook(
        lambda mod, inp, l=l: current.__setitem__(l, inp[0])) for l in layers]
    for b in range(0, x.shape[0], batch):
        model(x[b:b + batch])
        mask = (y[b:b + batch] != -100).reshape(-1)
        count += int(mask.sum())
        for l in layers:
            k = current[l].reshape(-1, current[l].shape[-1])[mask].double()
            sums[l] = k.T @ k if sums[l] is None else sums[l] + k.T @ k
    for h in hooks:
        h.remove()
    model.train()
    out = {}
    for l in layers:
        C = sums[l] / count
        diag = torch.diagonal(C)
        ev = torch.linalg.eigvalsh(C).flip(0)
        energy = torch.cumsum(ev, 0) / ev.sum()
        out[str(l)] = {"d_ff": C.shape[0], "dead_inputs": int((diag < 1e-6 * diag.max()).sum()),
                       "small_eigenvalues": int((ev < 1e-6 * ev[0]).sum()),
                       "directions_99pct_energy": int((energy < 0.99).sum()) + 1,
                       "condition_number": float(ev[0] / ev[-1]) if ev[-1] > 0 else float("inf")}
    return out


def train(args, tok, subjects, pools, generic, prose_train, encode, edited_layers, rng, log):
    """Trains the model on the facts and the training prose. Returns (model, training record), or None after
    --pilot-steps."""
    eos_id, newline_id = tok.token_to_id(EOS), tok.encode("\n").ids[0]
    cfg = GPT2Config(vocab_size=tok.get_vocab_size(), n_positions=args.n_ctx, n_embd=args.d,
                     n_layer=args.layers, n_head=args.heads, n_inner=args.d_ff, activation_function="gelu_new",
                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=eos_id, eos_token_id=eos_id,
                     tie_word_embeddings=True)
    model = GPT2LMHeadModel(cfg)
    with torch.no_grad():
        for block in model.transformer.h:
            block.mlp.c_fc.weight.normal_(0.0, args.fc_init_std)
    n_params = sum(p.numel() for p in model.parameters())
    x0, _ = pack_rows(random.Random(0), epoch_texts(random.Random(0), pools, generic, args.per_fact, prose_train), encode,
                      args.n_ctx, newline_id, eos_id)
    steps_per_epoch = math.ceil(x0.shape[0] / args.batch)  # an estimate: packing varies a little per epoch
    log(f"model: {n_params} parameters; about {x0.shape[0]} rows of {args.n_ctx} tokens "
        f"({steps_per_epoch} steps) per epoch")

    # Schedule: linear warm-up, constant peak lr until the probe's training-phrasing questions reach
    # --target (checked every --eval-every epochs) or --max-epochs − --decay-epochs is reached, then a
    # cosine decay to 0 over --decay-epochs epochs, then stop.
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.98), eps=1e-8)
    warmup = 2 * steps_per_epoch
    decay_steps = args.decay_epochs * steps_per_epoch
    decay_from = None  # step at which the cosine decay began

    def lr_at(step):
        if decay_from is None:
            return args.lr * min(1.0, (step + 1) / warmup)
        return args.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - decay_from) / decay_steps)))

    probe = {k: v for k, v in eval_sets(subjects, random.Random(args.seed + 1), 150).items()
             if k.startswith("edit_subjects/questions")}
    history = []
    t_train = time.time()
    step, epoch, decay_end_epoch = 0, 0, None
    while decay_end_epoch is None or epoch < decay_end_epoch:
        epoch += 1
        x, y = pack_rows(rng, epoch_texts(rng, pools, generic, args.per_fact, prose_train), encode, args.n_ctx,
                         newline_id, eos_id)
        loss_sum, n_steps = 0.0, 0
        for b in range(0, x.shape[0], args.batch):
            for group in opt.param_groups:
                group["lr"] = lr_at(step)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bool(args.bf16)):
                out = model(x[b:b + args.batch], labels=y[b:b + args.batch])
            opt.zero_grad(set_to_none=True)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            n_steps += 1
            loss_sum += out.loss.item()
            if step == args.pilot_steps:
                accs = {k: token_accuracy(model, tok, v)[0] for k, v in probe.items()}
                health = key_health(model, (x[:96], y[:96]), edited_layers)
                log(f"pilot: {step} steps, loss {out.loss.item():.4f}, probe {accs}")
                for l, h in health.items():
                    log(f"pilot: layer {l} {h}")
                return None
        msg = f"epoch {epoch}: loss {loss_sum / n_steps:.4f}, lr {lr_at(step - 1):.2e}"
        if epoch % args.eval_every == 0 or epoch == decay_end_epoch:
            accs = {k: token_accuracy(model, tok, v)[0] for k, v in probe.items()}
            health = key_health(model, (x[:96], y[:96]), edited_layers)
            history.append({"epoch": epoch, "step": step, "seconds": round(time.time() - t_train, 1), **accs,
                            "key_health": health})
            msg += "; probe " + ", ".join(f"{k.split('/')[-1]} {v:.3f}" for k, v in accs.items())
            msg += "; dead/small-eig/99%-dirs " + " ".join(
                f"L{l}:{h['dead_inputs']}/{h['small_eigenvalues']}/{h['directions_99pct_energy']}"
                for l, h in health.items())
            if decay_from is None and (accs["edit_subjects/questions/train_phrasings"] >= args.target or
                                       epoch >= args.max_epochs - args.decay_epochs):
                decay_from, decay_end_epoch = step, epoch + args.decay_epochs
                msg += f"; cosine decay over epochs {epoch + 1}..{decay_end_epoch}"
        log(msg)
    return model, {"epochs": epoch, "decay_from_epoch": decay_end_epoch - args.decay_epochs, "steps": step,
                   "seconds": round(time.time() - t_train, 1), "history": history}


def save_trained(out, model, tok_json, training):
    """The fp32 weights as trained, the tokenizer and the training record, before any product is made, so
    that --finish-from can make the products again without training."""
    trained_dir = os.path.join(out, "trained")
    os.makedirs(trained_dir, exist_ok=True)
    model.save_pretrained(trained_dir, safe_serialization=True)
    with open(os.path.join(trained_dir, "tokenizer.json"), "w", encoding="utf-8") as f:
        f.write(tok_json)
    with open(os.path.join(trained_dir, "history.json"), "w") as f:
        json.dump(training, f, indent=1)


def load_trained(src, tok_json):
    """What save_trained wrote; refuses a folder whose tokenizer is not the one these options make."""
    trained_dir = os.path.join(src, "trained")
    with open(os.path.join(trained_dir, "tokenizer.json"), encoding="utf-8") as f:
        if f.read() != tok_json:
            raise SystemExit(f"{trained_dir}/tokenizer.json: not the tokenizer these options make "
                             "(different --seed, --subjects, --vocab or --prose-* options?)")
    model = GPT2LMHeadModel.from_pretrained(trained_dir, dtype=torch.float32)
    with open(os.path.join(trained_dir, "history.json")) as f:
        return model, json.load(f)


@torch.no_grad()
def round_to_bf16(model):
    """The products are stored in bfloat16: round every weight now, so that every number reported below is
    the stored model's."""
    for p in model.parameters():
        p.copy_(p.to(torch.bfloat16).to(torch.float32))


# ---------------------------------------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seed", type=int, default=20240607)
    ap.add_argument("--subjects", type=int, default=2000)
    ap.add_argument("--edit-subjects", type=int, default=None, help="default: half of --subjects")
    ap.add_argument("--vocab", type=int, default=4096)
    ap.add_argument("--d", type=int, default=128)
    ap.add_argument("--d-ff", type=int, default=1024)
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--n-ctx", type=int, default=128)
    ap.add_argument("--max-epochs", type=int, default=20)
    ap.add_argument("--decay-epochs", type=int, default=3)
    ap.add_argument("--target", type=float, default=0.92,
                    help="probe accuracy (training phrasings) at which the cosine decay starts")
    ap.add_argument("--per-fact", type=int, default=2,
                    help="statements and questions drawn per fact per epoch from its trainable phrasings")
    ap.add_argument("--batch", type=int, default=16, help="rows of n_ctx tokens per step")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--prose-train", type=int, default=1500,
                    help="training prose paragraphs (prose.py), every one in every epoch")
    ap.add_argument("--prose-corpus", type=int, default=750,
                    help="of the training paragraphs, how many go into the covariance corpus")
    ap.add_argument("--prose-heldout", type=int, default=300,
                    help="held-out paragraphs (data/heldout.txt, the perplexity text; nothing else uses them)")
    ap.add_argument("--bf16", type=int, default=0,
                    help="bfloat16 autocast for training (fp32 master weights): only on CPUs with bf16 instructions "
                         "(on an AVX2-only CPU a step took 14 s against 1 s in float32)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-every", type=int, default=1, help="epochs")
    ap.add_argument("--edited-layers", default="1,2,3,4,5,6,7,8,9,10",
                    help="the layers MEMIT/D4S edit: their key health is tracked and reported")
    ap.add_argument("--fc-init-std", type=float, default=0.02,
                    help="std of the MLP input weights (c_fc) at initialisation; GPT-2's is 0.02")
    ap.add_argument("--pilot-steps", type=int, default=0,
                    help="train this many steps, print the edited layers' key health and the probe, write nothing")
    ap.add_argument("--finish-from", default=None, metavar="DIR",
                    help="skip training: make the products from DIR/trained (the fp32 weights and history an "
                         "earlier run with the same options saved) into --out")
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    n_edit = args.edit_subjects if args.edit_subjects is not None else args.subjects // 2
    t_start = time.time()

    def log(msg):
        print(f"[{time.time() - t_start:7.1f}s] {msg}", flush=True)

    edited_layers = [int(v) for v in args.edited_layers.split(",")]
    subjects = make_world(rng, args.subjects, n_edit)
    pools, generic = training_pools(subjects)
    objects = {r["category"]: r["objects"] for r in RELATIONS}
    names = [s["name"] for s in subjects if not s["edit_subject"]]
    prose_rng = random.Random(args.seed + 7)
    prose_train = prose.paragraphs(prose_rng, names, objects, args.prose_train)
    prose_heldout = prose.paragraphs(prose_rng, names, objects, args.prose_heldout)
    seen = set(prose_train)
    prose_heldout = [p for p in prose_heldout if p not in seen]
    n_trainable = sum(len(a) + len(b) for a, b in pools) + len(generic)
    log(f"world: {len(subjects)} subjects ({n_edit} edit subjects), {len(RELATIONS)} relations, "
        f"{n_trainable} trainable sentences")

    # the tokenizer sees every sentence of the world (all phrasings), so the held-out phrasings' words
    # are ordinary tokens; only the model is kept from the edit subjects' held-out sentences. The category
    # sentences come 4 times so that every object is frequent enough to be merged even in a small world.
    all_texts = [t for s in subjects for r in RELATIONS for t in fact_items(s, r, True)] + generic_items() * 4 + prose_train + prose_heldout
    tok, tok_json = train_tokenizer(all_texts, args.vocab)
    eos_id = tok.token_to_id(EOS)
    newline_id = tok.encode("\n").ids[0]
    for r in RELATIONS:
        for o in r["objects"]:
            n = len(tok.encode(" " + o).ids)
            if n > 3:
                raise SystemExit(f"object '{o}' of {r['name']} is {n} tokens (at most 3 allowed)")
    log(f"tokenizer: {tok.get_vocab_size()} tokens; objects 1-3 tokens each")

    encode = Encoder(tok)
    if args.finish_from:
        model, training = load_trained(args.finish_from, tok_json)
        log(f"loaded the trained model from {args.finish_from}: {training['epochs']} epochs, "
            f"{training['seconds']} s of training")
    else:
        trained = train(args, tok, subjects, pools, generic, prose_train, encode, edited_layers, rng, log)
        if trained is None:
            return
        model, training = trained
        save_trained(args.out, model, tok_json, training)
    round_to_bf16(model)
    n_params = sum(p.numel() for p in model.parameters())
    products_rng = random.Random(args.seed + 3)  # the requests and the corpus do not depend on training

    # final evaluation on every edit subject and a sample of the others
    model.eval()
    final = eval_sets(subjects, random.Random(args.seed + 2), args.subjects)
    accuracy = {}
    for k, v in final.items():
        tacc, em, _ = token_accuracy(model, tok, v)
        accuracy[k] = {"token_accuracy": round(tacc, 4), "exact_match": round(em, 4), "n": len(v)}
        log(f"final {k}: token accuracy {tacc:.4f}, exact {em:.4f} (n={len(v)})")

    zsre, cf = make_requests(products_rng, subjects, model, tok)
    req_acc = {}
    for name, pairs in (("zsre/src->answers", [(z["src"], z["answers"][0]) for z in zsre]),
                        ("zsre/rephrase->answers", [(z["rephrase"], z["answers"][0]) for z in zsre]),
                        ("zsre/loc->loc_ans", [(z["loc"], z["loc_ans"]) for z in zsre]),
                        ("zsre/src->alt (should be low)", [(z["src"], z["alt"]) for z in zsre]),
                        ("counterfact/prompt->ground_truth", [(c["prompt"], c["ground_truth"]) for c in cf]),
                        ("counterfact/rephrase_prompt->ground_truth",
                         [(c["rephrase_prompt"], c["ground_truth"]) for c in cf]),
                        ("counterfact/locality_prompt->locality_ground_truth",
                         [(c["locality_prompt"], c["locality_ground_truth"]) for c in cf])):
        tacc, em, _ = token_accuracy(model, tok, pairs)
        req_acc[name] = {"token_accuracy": round(tacc, 4), "exact_match": round(em, 4), "n": len(pairs)}
        log(f"requests {name}: token accuracy {tacc:.4f}, exact {em:.4f}")
    pred_is_truth = sum(z["pred"] == z["answers"][0] for z in zsre) / len(zsre)

    # products
    gpt2_dir = os.path.join(args.out, "gpt2")
    data_dir = os.path.join(args.out, "data")
    os.makedirs(gpt2_dir, exist_ok=True)
    os.makedirs(data_dir, exist_ok=True)
    model.to(torch.bfloat16).save_pretrained(gpt2_dir, safe_serialization=True)
    model.to(torch.float32)  # exact: every weight was rounded to bf16 before
    gen_cfg = os.path.join(gpt2_dir, "generation_config.json")
    if os.path.exists(gen_cfg):
        os.remove(gen_cfg)
    with open(os.path.join(gpt2_dir, "tokenizer.json"), "w", encoding="utf-8") as f:
        f.write(tok_json)
    world = {"seed": args.seed,
             "relations": [{k: r[k] for k in ("name", "category", "objects", "statements", "questions")}
                           for r in RELATIONS],
             "held_out": "the last statement and the last question of each relation are never trained for "
                         "subjects with edit_subject true",
             "subjects": subjects}
    with open(os.path.join(data_dir, "world.json"), "w", encoding="utf-8") as f:
        json.dump(world, f, ensure_ascii=False, indent=0)
    with open(os.path.join(data_dir, "edits_zsre.json"), "w", encoding="utf-8") as f:
        json.dump(zsre, f, ensure_ascii=False, indent=1)
    with open(os.path.join(data_dir, "edits_counterfact.json"), "w", encoding="utf-8") as f:
        json.dump(cf, f, ensure_ascii=False, indent=1)
    corpus_text = make_corpus(products_rng, subjects, prose_train[:args.prose_corpus])
    with open(os.path.join(data_dir, "corpus.txt"), "w", encoding="utf-8") as f:
        f.write(corpus_text)
    if prose_heldout:
        with open(os.path.join(data_dir, "heldout.txt"), "w", encoding="utf-8") as f:
            f.write("\n\n".join(prose_heldout) + "\n")
    corpus_rows = pack_rows(random.Random(0), corpus_text.split("\n\n"), encode, args.n_ctx, newline_id, eos_id)
    final_health = key_health(model, corpus_rows, edited_layers)
    for l, h in final_health.items():
        log(f"key health of layer {l} on corpus.txt: {h}")

    report = {
        "seed": args.seed, "subjects": args.subjects, "edit_subjects": n_edit, "relations": len(RELATIONS),
        "trainable_sentences": n_trainable, "vocab": tok.get_vocab_size(),
        "model": {"arch": "GPT2LMHeadModel", "n_layer": args.layers, "n_embd": args.d, "n_inner": args.d_ff,
                  "n_head": args.heads, "n_positions": args.n_ctx, "parameters": n_params,
                  "safetensors_bytes": os.path.getsize(os.path.join(gpt2_dir, "model.safetensors"))},
        "training": {**training, "target": args.target, "per_fact": args.per_fact, "bf16_autocast": bool(args.bf16),
                     "batch_rows": args.batch, "tokens_per_step": args.batch * args.n_ctx, "lr": args.lr,
                     "weight_decay": args.weight_decay, "fc_init_std": args.fc_init_std, "threads": args.threads},
        "storage": "bfloat16 (every weight rounded before the evaluation above)",
        "accuracy": accuracy, "requests": req_acc, "requests_pred_equals_truth": round(pred_is_truth, 4),
        "prose": {"train_paragraphs": len(prose_train), "corpus_paragraphs": args.prose_corpus,
                  "heldout_paragraphs": len(prose_heldout)},
        "key_health_on_corpus": final_health,
        "capacity_ratio": {"edited_layers": edited_layers,
                           "keys_d_ff_x_layers": args.d_ff * len(edited_layers),
                           "ratio_at_100_edits": args.d_ff * len(edited_layers) / 100,
                           "ratio_at_1000_edits": args.d_ff * len(edited_layers) / 1000},
        "total_seconds": round(time.time() - t_start, 1),
    }
    with open(os.path.join(gpt2_dir, "train_report.json"), "w") as f:
        json.dump(report, f, indent=1)
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
