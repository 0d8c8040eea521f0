"""Generate a labelled DLP evaluation set from the `faker` library.

The gateway's DLP detectors are measured on `gateway/tests/dlp/labelled.jsonl`, written by hand
here. This script makes a second, larger set from data nobody here wrote: faker's phone numbers
in 40 locales, card numbers of every faker card type, e-mail addresses, IBANs, US SSNs, IPv4 and
IPv6 addresses, each set in surrounding text of several shapes (prose, `key: value` and `key=value`
config lines, JSON, CSV rows with a name and an address, log lines), plus negatives: faker
look-alikes (dates, ISBNs, EANs, UUIDs, hashes, postcodes, amounts, versions, MAC addresses, ports,
timestamps, licence plates, order numbers, paths, URLs, user names, colours) that no detector of
these kinds should report.

Each line is a JSON object like those of `labelled.jsonl`:
    {"text": "...", "expect": [["phone", "+44 20 7946 0958"]], "locale": "en_GB"}
where every `expect` entry is [kind, exact substring of text] and `expect` is [] for negatives.
Extra fields (ignored by the Rust test): "locale", "card_type", and "source" (the faker method
behind a negative). Phone extensions ("555-555-5555x1234") are in the text but not in the label.

Run:
    pip install faker==40.63.0 && python3 scripts/dlp_eval_set.py > gateway/tests/dlp/faker.jsonl

The output is byte-for-byte reproducible: `Faker.seed(SEED)` and `random.seed(SEED)` are fixed,
every date is drawn between fixed bounds (never relative to today), and the faker version is
checked, since another version may generate other values.
"""

import json
import random
import re
import sys
from datetime import datetime

import faker
from faker import Faker

FAKER_VERSION = "40.63.0"
SEED = 20240611
START, END = datetime(2015, 1, 1), datetime(2030, 12, 31)

PHONE_LOCALES = """en_US en_GB en_CA en_AU en_IN en_IE en_NZ de_DE de_AT de_CH fr_FR fr_CH es_ES
    es_MX it_IT nl_NL nl_BE pt_PT pt_BR pl_PL sv_SE da_DK no_NO fi_FI cs_CZ hu_HU ro_RO el_GR tr_TR
    ru_RU uk_UA ja_JP ko_KR zh_CN zh_TW id_ID th_TH vi_VN he_IL ar_AE""".split()
# Locales whose bank provider makes their own country's IBANs (others fall back to GB).
IBAN_LOCALES = """az_AZ cs_CZ da_DK de_AT de_CH de_DE el_GR en_GB en_IE es_ES fi_FI fr_CH fr_FR
    it_CH it_IT mk_MK nl_BE nl_NL no_NO pl_PL pt_BR pt_PT ro_RO sk_SK tr_TR uk_UA""".split()
EMAIL_LOCALES = "en_US en_GB de_DE fr_FR es_ES it_IT nl_NL pl_PL pt_BR sv_SE".split()
# How each card type is printed: digits per group.
CARD_GROUPS = {
    "maestro": (4, 4, 4), "mastercard": (4, 4, 4, 4), "visa13": (4, 3, 3, 3),
    "visa16": (4, 4, 4, 4), "visa19": (4, 4, 4, 4, 3), "amex": (4, 6, 5),
    "discover": (4, 4, 4, 4), "diners": (4, 6, 4), "jcb15": (4, 6, 5), "jcb16": (4, 4, 4, 4),
}
EXTENSION = re.compile(r"\s*(?:x|ext\.?)\s*\d+$", re.IGNORECASE)

# Field names (for config, JSON, CSV and log lines) and nouns (for prose), per kind or source.
FIELDS = {
    "phone": (["phone", "tel", "mobile", "contact_phone", "fax"],
              ["phone number", "mobile number", "direct line"]),
    "credit_card": (["card_number", "cc", "pan", "card"], ["card number", "credit card"]),
    "email": (["email", "contact_email", "reply_to"], ["email address", "email"]),
    "iban": (["iban", "bank_account", "payee_account"], ["IBAN", "bank account"]),
    "us_ssn": (["ssn", "social_security_number"], ["SSN", "social security number"]),
    "ipv4": (["ip", "remote_addr", "client_ip", "host"], ["IP address", "server address"]),
    "ipv6": (["ip", "remote_addr", "client_ip", "host"], ["IPv6 address", "server address"]),
}

_fakers = {}


def fake(locale="en_US"):
    if locale not in _fakers:
        _fakers[locale] = Faker(locale)
    return _fakers[locale]


def csv_field(s):
    return f'"{s}"' if "," in s or '"' in s else s


def timestamp(f):
    fmt = random.choice(["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%SZ", "[%d/%b/%Y:%H:%M:%S +0000]"])
    return f.date_time_between(START, END).strftime(fmt)


def embed(f, kind, value):
    """`value` in one of several kinds of surrounding text, made with faker `f`."""
    keys, nouns = FIELDS[kind]
    key, noun, name = random.choice(keys), random.choice(nouns), f.name()
    shape = random.choice(["prose", "prose", "config", "json", "csv", "log"])
    if shape == "prose":
        templates = [
            "{sentence} The {noun} for {name} is {value}.",
            "Please update {name}'s {noun} to {value} before {day}.",
            "{name} ({company}) gave {value} as the {noun}. {sentence}",
            "{sentence} {value}",
        ]
        if kind == "phone":
            templates.append("Call {name} on {value} about the {word}.")
        return random.choice(templates).format(
            sentence=f.sentence(), noun=noun, name=name, value=value, day=f.day_of_week(),
            company=f.company(), word=f.word())
    if shape == "config":
        sep = random.choice([": ", "=", " = "])
        lines = [f"{key}{sep}{value}"]
        if random.random() < 0.5:
            lines = [f"name{sep}{name}", *lines, f"{f.word()}{sep}{f.word()}"][: random.choice([2, 3])]
        return "\n".join(lines)
    if shape == "json":
        obj = {"name": name, key: value} if random.random() < 0.7 else {key: value}
        return json.dumps(obj, ensure_ascii=False)
    if shape == "csv":
        address = f.address().replace("\n", ", ")
        row = ",".join(csv_field(s) for s in (name, address, value))
        return f"name,address,{key}\n{row}" if random.random() < 0.5 else row
    level = random.choice(["INFO", "DEBUG", "WARN"])
    return f"{timestamp(f)} {level} {f.word()}: {f.sentence()[:-1]} {key}={value}"


def line(text, expect, **extra):
    for _, value in expect:
        assert value in text, (value, text)
    return {"text": text, "expect": [list(e) for e in expect], **extra}


def phones():
    for locale in PHONE_LOCALES:
        f = fake(locale)
        values = []
        while len(values) < 25:
            value = f.phone_number()
            number = EXTENSION.sub("", value)
            if len(re.sub(r"\D", "", number)) >= 7:  # not ar_AE's 3-digit service numbers
                values.append((value, number))
        if locale == "pt_BR":  # the only listed locale with its own MSISDN format
            values += [(v, v) for v in (f.msisdn() for _ in range(10))]
        if locale == "uk_UA":  # the only one whose country_calling_code() is its own (+380 + area)
            values += [(v, v) for v in (
                f"{f.country_calling_code()} {f.numerify('### ## ##')}" for _ in range(10))]
        for value, number in values:
            yield line(embed(f, "phone", value), [("phone", number)], locale=locale)


def cards():
    f = fake()
    for card_type, groups in CARD_GROUPS.items():
        for i in range(40):
            digits = f.credit_card_number(card_type=card_type)
            assert len(digits) == sum(groups), (card_type, digits)
            value = digits
            if i % 2:
                sep, parts, at = random.choice([" ", "-"]), [], 0
                for n in groups:
                    parts.append(digits[at : at + n])
                    at += n
                value = sep.join(parts)
            yield line(embed(f, "credit_card", value), [("credit_card", value)], card_type=card_type)


def simple(kind, count, make, locales=("en_US",)):
    for i in range(count):
        locale = locales[i % len(locales)]
        f = fake(locale)
        value = make(f)
        yield line(embed(f, kind, value), [(kind, value)], locale=locale)


def iban(f):
    value = f.iban()
    if random.random() < 0.5:
        value = " ".join(value[i : i + 4] for i in range(0, len(value), 4))
    return value


def email(f):
    return random.choice([f.email, f.free_email, f.company_email])()


NEGATIVES = {  # source: (field names, prose nouns, value)
    "date": (["date", "due"], ["date"], lambda f: f.date(
        random.choice(["%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y"]), end_datetime=END)),
    "date_time": (["created_at", "updated"], ["timestamp"],
                  lambda f: f.date_time(end_datetime=END).isoformat()),
    "time": (["time", "starts"], ["time"], lambda f: f.time(end_datetime=END)),
    "isbn10": (["isbn"], ["ISBN"], lambda f: f.isbn10()),
    "isbn13": (["isbn"], ["ISBN"], lambda f: f.isbn13()),
    "ean8": (["ean", "barcode"], ["barcode"], lambda f: f.ean8()),
    "ean13": (["ean", "barcode"], ["barcode"], lambda f: f.ean13()),
    "uuid4": (["id", "request_id"], ["request id"], lambda f: f.uuid4()),
    "md5": (["md5", "checksum"], ["checksum"], lambda f: f.md5()),
    "sha1": (["sha1", "commit"], ["commit"], lambda f: f.sha1()),
    "sha256": (["sha256", "digest"], ["digest"], lambda f: f.sha256()),
    "postcode": (["postcode", "zip"], ["postcode"], lambda f: f.postcode()),
    "building_number": (["building", "house_no"], ["building number"],
                        lambda f: f.building_number()),
    "pyint": (["amount", "quantity", "count"], ["amount"],
              lambda f: str(f.pyint(0, 10 ** random.randint(2, 10)))),
    "pydecimal": (["amount", "total", "balance"], ["total"], lambda f: str(
        f.pydecimal(left_digits=random.randint(1, 9), right_digits=2, positive=True))),
    "pricetag": (["price", "total"], ["price"], lambda f: f.pricetag()),
    "version": (["version"], ["version"], lambda f: ".".join(
        str(random.randint(0, n)) for n in (30, 99, 999))),
    "mac_address": (["mac", "hwaddr"], ["MAC address"], lambda f: f.mac_address()),
    "port_number": (["port", "listen_port"], ["port"], lambda f: str(f.port_number())),
    "unix_time": (["ts", "epoch"], ["timestamp"],
                  lambda f: str(int(f.unix_time(start_datetime=START, end_datetime=END)))),
    "license_plate": (["plate", "vehicle"], ["licence plate"], lambda f: f.license_plate()),
    "order_number": (["order", "order_id"], ["order number"],
                     lambda f: f.numerify("ORD-########")),
    "file_path": (["path", "file"], ["file"], lambda f: f.file_path(depth=random.randint(1, 4))),
    "url": (["url", "homepage"], ["website"], lambda f: f.url()),
    "user_name": (["user", "login"], ["username"], lambda f: f.user_name()),
    "hex_color": (["color", "background"], ["colour"], lambda f: f.hex_color()),
}
FIELDS.update({source: (keys, nouns) for source, (keys, nouns, _) in NEGATIVES.items()})
LOCALE_NEGATIVES = {"postcode", "license_plate"}


def negatives(per_source=35):
    for source, (_, _, make) in NEGATIVES.items():
        for i in range(per_source):
            locale = PHONE_LOCALES[i % len(PHONE_LOCALES)] if source in LOCALE_NEGATIVES else "en_US"
            value = make(fake(locale))
            extra = {"source": source, **({"locale": locale} if locale != "en_US" else {})}
            # Surrounding text in English whatever the value's locale.
            yield line(embed(fake(), source, value), [], **extra)


def main():
    if faker.VERSION != FAKER_VERSION:
        sys.exit(f"faker {faker.VERSION} installed; this set is made with faker=={FAKER_VERSION}")
    Faker.seed(SEED)
    random.seed(SEED)
    lines = [
        *phones(),
        *cards(),
        *simple("email", 150, email, EMAIL_LOCALES),
        *simple("iban", 156, iban, IBAN_LOCALES),
        *simple("us_ssn", 100, lambda f: f.ssn()),
        *simple("ipv4", 100, lambda f: f.ipv4_public()),
        *simple("ipv4", 30, lambda f: f.ipv4_private()),
        *simple("ipv6", 100, lambda f: f.ipv6()),
        *negatives(),
    ]
    random.shuffle(lines)
    out = "".join(json.dumps(obj, ensure_ascii=False) + "\n" for obj in lines)
    sys.stdout.buffer.write(out.encode("utf-8"))


if __name__ == "__main__":
    main()
