#!/usr/bin/env python3
"""Independent hold-out PII generator for Heddle (own templates, not the dev-set wording).

Writes pii_holdout.jsonl in the shared/eval/pii format.
Usage: python3 gen_pii.py [N] [SEED]
"""
from __future__ import annotations

import base64
import json
import random
import string
import sys
import unicodedata

from faker import Faker

N = int(sys.argv[1]) if len(sys.argv) > 1 else 300
SEED = int(sys.argv[2]) if len(sys.argv) > 2 else 7331
R = random.Random(SEED)
LOCALES = ["en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pt_BR", "sv_SE", "pl_PL", "ja_JP"]
FK = {loc: Faker(loc) for loc in LOCALES}
for i, f in enumerate(FK.values()):
    f.seed_instance(SEED + i)
SOURCE = "synthetic: holdout gen_pii.py (independent templates, faker %s)" % __import__("faker").VERSION

ALNUM = string.ascii_letters + string.digits
B62U = ALNUM + "-_"


# ---------------------------------------------------------------- builder
class B:
    def __init__(self):
        self.parts: list[str] = []
        self.n = 0
        self.spans = []
        self.negs = []

    def t(self, s: str):
        self.parts.append(s)
        self.n += len(s)
        return self

    def e(self, typ: str, v: str):
        assert v == v.strip() and v, (typ, v)
        self.spans.append((self.n, self.n + len(v), typ, v))
        return self.t(v)

    def x(self, kind: str, v: str):  # hard negative
        self.negs.append((self.n, self.n + len(v), kind, v))
        return self.t(v)

    def done(self, template: str):
        text = "".join(self.parts)

        def mk(s, e, v):
            return {"start": s, "end": e, "start_byte": len(text[:s].encode()),
                    "end_byte": len(text[:e].encode())}, v

        spans = []
        for s, e, typ, v in sorted(self.spans):
            d, _ = mk(s, e, v)
            d.update(type=typ, value=v)
            spans.append(d)
        negs = []
        for s, e, k, v in sorted(self.negs):
            d, _ = mk(s, e, v)
            d.update(kind=k, value=v)
            negs.append(d)
        return {"text": text, "spans": spans, "negatives": negs, "template": template,
                "non_ascii": not text.isascii(), "source": SOURCE}


# ---------------------------------------------------------------- entity makers
def deaccent(s: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))


def person(loc="en_US"):
    f = FK[loc]
    first, last = f.first_name(), f.last_name()
    if loc == "ja_JP":
        return first, last, last + first if R.random() < 0.6 else f"{last} {first}"
    return first, last, f"{first} {last}"


def email_for(first, last, loc="en_US"):
    f = FK["en_US"]
    if loc == "ja_JP" or not deaccent(first + last).isascii():
        local = f.user_name()
    else:
        a, b = deaccent(first).lower().replace(" ", ""), deaccent(last).lower().replace(" ", "").replace("'", "")
        local = R.choice([f"{a}.{b}", f"{a[0]}{b}", f"{a}_{b}{R.randint(1, 99)}", f"{b}.{a}", f"{a}+crm"])
    dom = R.choice(["gmail.com", "outlook.com", "gmx.de", "web.de", "orange.fr", "libero.it", "ziggo.nl", "uol.com.br",
                    "telia.se", "wp.pl", "yahoo.co.jp", "proton.me", "hey.com", "northwind-logistics.com",
                    "fabrikam.co.uk", "contoso.io", "kestrel-bio.eu", "aperture.dev", "mail.example-corp.org"])
    return f"{local}@{dom}"


def digits(n):
    return "".join(R.choice(string.digits) for _ in range(n))


def phone(loc="en_US", ext=None):
    if ext is None:
        ext = R.random() < 0.2
    fmts = {
        "en_US": [lambda: f"({R.randint(201, 989)}) {R.randint(200, 999)}-{digits(4)}",
                  lambda: f"+1 {R.randint(201, 989)}.{R.randint(200, 999)}.{digits(4)}",
                  lambda: f"+1-{R.randint(201, 989)}-{R.randint(200, 999)}-{digits(4)}",
                  lambda: f"{R.randint(201, 989)} {R.randint(200, 999)} {digits(4)}",
                  lambda: f"1 ({R.randint(201, 989)}) {R.randint(200, 999)} {digits(4)}"],
        "en_GB": [lambda: f"+44 (0)20 {digits(4)} {digits(4)}", lambda: f"07{digits(3)} {digits(6)}",
                  lambda: f"+44 7{digits(3)} {digits(3)} {digits(3)}", lambda: f"0161 {digits(3)} {digits(4)}"],
        "de_DE": [lambda: f"+49 (0)30 {digits(4)}-{digits(4)}", lambda: f"030/{digits(8)}",
                  lambda: f"0171 {digits(7)}", lambda: f"+49 89 {digits(3)} {digits(3)}-{digits(2)}",
                  lambda: f"+49 151 {digits(4)} {digits(4)}"],
        "fr_FR": [lambda: "+33 " + R.choice("167") + " " + " ".join(digits(2) for _ in range(4)),
                  lambda: "0" + R.choice("1679") + "." + ".".join(digits(2) for _ in range(4)),
                  lambda: "0" + R.choice("67") + " " + " ".join(digits(2) for _ in range(4))],
        "es_ES": [lambda: f"+34 6{digits(2)} {digits(2)} {digits(2)} {digits(2)}", lambda: f"91 {digits(3)} {digits(2)} {digits(2)}",
                  lambda: f"+34 9{digits(2)} {digits(3)} {digits(3)}"],
        "it_IT": [lambda: f"+39 02 {digits(4)} {digits(4)}", lambda: f"3{digits(2)} {digits(3)} {digits(4)}",
                  lambda: f"+39 06 {digits(8)}"],
        "nl_NL": [lambda: f"+31 6 {digits(8)}", lambda: f"020-{digits(3)} {digits(4)}", lambda: f"06-{digits(8)}"],
        "pt_BR": [lambda: f"+55 11 9{digits(4)}-{digits(4)}", lambda: f"(21) 9{digits(4)}-{digits(4)}",
                  lambda: f"+55 (31) 3{digits(3)}-{digits(4)}"],
        "sv_SE": [lambda: f"+46 8 {digits(3)} {digits(3)} {digits(2)}", lambda: f"070-{digits(3)} {digits(2)} {digits(2)}",
                  lambda: f"08-{digits(3)} {digits(2)} {digits(2)}"],
        "pl_PL": [lambda: f"+48 22 {digits(3)} {digits(2)} {digits(2)}", lambda: f"+48 {digits(3)} {digits(3)} {digits(3)}",
                  lambda: f"{digits(3)}-{digits(3)}-{digits(3)}"],
        "ja_JP": [lambda: f"+81 3-{digits(4)}-{digits(4)}", lambda: f"090-{digits(4)}-{digits(4)}",
                  lambda: f"03-{digits(4)}-{digits(4)}", lambda: f"+81 90 {digits(4)} {digits(4)}"],
    }
    p = R.choice(fmts.get(loc, fmts["en_US"]))()
    if ext:
        p += R.choice([f" ext. {R.randint(2, 9999)}", f" x{R.randint(10, 999)}", f" ext {R.randint(100, 9999)}",
                       f" Ext. {R.randint(10, 99)}", f";ext={R.randint(10, 999)}"])
    return p


def luhn_digit(body: str) -> str:
    tot = 0
    for i, c in enumerate(reversed(body)):
        d = int(c)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        tot += d
    return str((10 - tot % 10) % 10)


def luhn_ok(s):
    ds = [int(c) for c in s if c.isdigit()]
    t = 0
    for i, d in enumerate(reversed(ds)):
        if i % 2:
            d *= 2
            d = d - 9 if d > 9 else d
        t += d
    return t % 10 == 0


def card(valid=True):
    kind = R.choice(["visa", "visa", "mc", "mc2", "amex", "disc"])
    pre = {"visa": "4", "mc": str(R.randint(51, 55)), "mc2": str(R.randint(2221, 2720)), "amex": R.choice(["34", "37"]),
           "disc": "6011"}[kind]
    n = 15 if kind == "amex" else 16
    body = pre + digits(n - 1 - len(pre))
    cd = luhn_digit(body)
    if not valid:
        cd = str((int(cd) + R.randint(1, 9)) % 10)
    num = body + cd
    sep = R.choice([" ", "-", ""])
    if kind == "amex":
        return sep.join([num[:4], num[4:10], num[10:]]) if sep else num
    return sep.join(num[i:i + 4] for i in range(0, 16, 4))


def ssn(valid=True, sep="-"):
    if valid:
        a = R.choice([x for x in range(1, 900) if x != 666])
        g, s = R.randint(1, 99), R.randint(1, 9999)
    else:
        a, g, s = R.choice([(0, R.randint(1, 99), R.randint(1, 9999)), (666, R.randint(1, 99), R.randint(1, 9999)),
                            (R.randint(900, 999), R.randint(1, 99), R.randint(1, 9999)),
                            (R.randint(1, 899), 0, R.randint(1, 9999)), (R.randint(1, 665), R.randint(1, 99), 0)])
    return f"{a:03d}{sep}{g:02d}{sep}{s:04d}"


IBAN_LEN = {"DE": 22, "GB": 22, "FR": 27, "ES": 24, "IT": 27, "NL": 18, "BE": 16, "CH": 21, "AT": 20, "PL": 28,
            "SE": 24, "IE": 22, "PT": 25}
LOC_CC = {"de_DE": "DE", "en_GB": "GB", "fr_FR": "FR", "es_ES": "ES", "it_IT": "IT", "nl_NL": "NL", "pl_PL": "PL",
          "sv_SE": "SE", "pt_BR": "PT"}


def iban(cc=None, valid=True, grouped=None):
    cc = cc or R.choice(list(IBAN_LEN))
    n = IBAN_LEN[cc] - 4
    if cc in ("GB", "IE"):
        bban = "".join(R.choice(string.ascii_uppercase) for _ in range(4)) + digits(n - 4)
    elif cc == "NL":
        bban = R.choice(["ABNA", "INGB", "RABO", "TRIO"]) + digits(n - 4)
    elif cc == "IT":
        bban = R.choice(string.ascii_uppercase) + digits(n - 1)
    else:
        bban = digits(n)
    num = int("".join(str(int(c, 36)) for c in bban + cc + "00"))
    chk = 98 - num % 97
    if not valid:
        chk = (chk + R.randint(1, 90)) % 97 + 2
        if chk == 98 - num % 97:
            chk = (chk % 96) + 2
    s = f"{cc}{chk:02d}{bban}"
    if grouped is None:
        grouped = R.random() < 0.6
    return " ".join(s[i:i + 4] for i in range(0, len(s), 4)) if grouped else s


def iban_ok(s):
    s = s.replace(" ", "")
    r = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in r)) % 97 == 1


def ipv4(private=None):
    if private is None:
        private = R.random() < 0.4
    if private:
        return R.choice([f"10.{R.randint(0, 255)}.{R.randint(0, 255)}.{R.randint(1, 254)}",
                         f"192.168.{R.randint(0, 255)}.{R.randint(1, 254)}",
                         f"172.{R.randint(16, 31)}.{R.randint(0, 255)}.{R.randint(1, 254)}"])
    return f"{R.randint(23, 223)}.{R.randint(0, 255)}.{R.randint(0, 255)}.{R.randint(1, 254)}"


def ipv6():
    h = lambda: "%x" % R.randint(1, 0xFFFF)
    return R.choice([f"2001:db8:{h()}:{h()}::{h()}", f"fe80::{h()}:{h()}:{h()}:{h()}",
                     ":".join(h() for _ in range(8)), f"2a02:{h()}:{h()}::{h()}", f"::ffff:{ipv4(False)}"])


def rs(n, alpha=ALNUM):
    return "".join(R.choice(alpha) for _ in range(n))


def b64url(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def jwt():
    alg = R.choice(["HS256", "RS256", "ES256"])
    hdr = b64url(json.dumps({"alg": alg, "typ": "JWT"}, separators=(",", ":")).encode())
    pl = b64url(json.dumps({"sub": rs(12), "iss": "https://auth.example.com", "iat": R.randint(1.6e9, 1.75e9),
                            "exp": R.randint(1.75e9, 1.8e9), "roles": ["crm:read"]}, separators=(",", ":")).encode())
    sig = b64url(bytes(R.getrandbits(8) for _ in range(32 if alg == "HS256" else 64)))
    return f"{hdr}.{pl}.{sig}"


def api_key(kind=None):
    kind = kind or R.choice(["openai", "openai_proj", "anthropic", "aws", "ghp", "github_pat", "slack", "gitlab",
                             "google", "stripe", "hf", "npm", "jwt"])
    v = {
        "openai": lambda: "sk-" + rs(20) + "T3BlbkFJ" + rs(20),
        "openai_proj": lambda: "sk-proj-" + rs(R.choice([48, 64, 74]), B62U) + "T3BlbkFJ" + rs(R.choice([48, 74]), B62U),
        "anthropic": lambda: "sk-ant-api03-" + rs(93, B62U) + "AA",
        "aws": lambda: R.choice(["AKIA", "ASIA"]) + rs(16, string.ascii_uppercase + "234567"),
        "ghp": lambda: R.choice(["ghp_", "gho_", "ghu_", "ghs_"]) + rs(36),
        "github_pat": lambda: "github_pat_" + rs(22) + "_" + rs(59),
        "slack": lambda: R.choice(["xoxb-", "xoxp-"]) + digits(R.choice([11, 12])) + "-" + digits(13) + "-" + rs(24),
        "gitlab": lambda: "glpat-" + rs(20, B62U),
        "google": lambda: "AIza" + rs(35, B62U),
        "stripe": lambda: R.choice(["sk_live_", "rk_live_"]) + rs(R.choice([24, 34, 99])),
        "hf": lambda: "hf_" + rs(34, string.ascii_letters),
        "npm": lambda: "npm_" + rs(36),
        "jwt": jwt,
    }[kind]()
    return v


def password():
    w = R.choice(["Winter", "Falcon", "Quartz", "maple", "Tr0ub4dor", "Harbor", "neptune", "Kestrel"])
    return w + R.choice(["!", "#", "$", "%", "&", "*", "@", "_"]) + digits(R.randint(2, 5)) + rs(R.randint(2, 6))


def secret_hex():
    return "".join(R.choice("0123456789abcdef") for _ in range(R.choice([32, 40, 64])))


def aws_secret():
    return rs(40, ALNUM + "+/")


def pem_body(indent=""):
    lines = [rs(64, ALNUM + "+/") for _ in range(R.randint(3, 5))] + [rs(R.randint(20, 60), ALNUM + "+/") + "="]
    kind = R.choice(["RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY"])
    return f"-----BEGIN {kind}-----\n" + "\n".join(indent + l for l in lines) + f"\n{indent}-----END {kind}-----"


def street(loc="en_US"):
    f = FK[loc]
    if loc == "ja_JP":
        return f.address().replace("\n", " ").strip()
    return f.street_address().replace("\n", " ").strip()


def full_addr(loc="en_US"):
    f = FK[loc]
    if loc == "en_US":
        return f"{f.street_address()}, {f.city()}, {f.state_abbr()} {f.zipcode()}"
    if loc == "ja_JP":
        return f.address().replace("\n", " ").strip()
    if loc == "en_GB":
        return f"{f.street_address()}, {f.city()} {f.postcode()}".replace("\n", ", ")
    return f"{f.street_address()}, {f.postcode()} {f.city()}".replace("\n", ", ")


def dob(style=None):
    y, m, d = R.randint(1942, 2004), R.randint(1, 12), R.randint(1, 28)
    months = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
              "November", "December"]
    style = style or R.choice(["iso", "us", "eu_dot", "long", "dmy_long", "eu_slash"])
    return {"iso": f"{y}-{m:02d}-{d:02d}", "us": f"{m:02d}/{d:02d}/{y}", "eu_dot": f"{d:02d}.{m:02d}.{y}",
            "long": f"{months[m - 1]} {d}, {y}", "dmy_long": f"{d} {months[m - 1][:3]} {y}",
            "eu_slash": f"{d:02d}/{m:02d}/{y}", "ja": f"{y}年{m}月{d}日"}[style]


# ---------------------------------------------------------------- negative makers
def sf_id(prefix=None, n18=None):
    prefix = prefix or R.choice(["001", "003", "005", "006", "500", "00Q", "801", "a0X"])
    body = prefix + R.choice(["5g", "8c", "Hs", "4x"]) + "0000" + rs(6)
    if n18 is None:
        n18 = R.random() < 0.6
    return body + (rs(3, string.ascii_uppercase) if n18 else "")


def uuid():
    h = lambda n: "".join(R.choice("0123456789abcdef") for _ in range(n))
    return f"{h(8)}-{h(4)}-4{h(3)}-{R.choice('89ab')}{h(3)}-{h(12)}"


def hexs(n):
    return "".join(R.choice("0123456789abcdef") for _ in range(n))


def money():
    a = R.randint(10, 250000)
    c = R.randint(0, 99)
    return R.choice([f"${a:,}.{c:02d}", f"€{a:,}.{c:02d}".replace(",", "X").replace(".", ",").replace("X", "."),
                     f"{a:,},{c:02d} €".replace(",", " ", 1) if a >= 1000 else f"{a},{c:02d} €",
                     f"GBP {a:,}.{c:02d}", f"R$ {a:,}.{c:02d}".replace(",", "X").replace(".", ",").replace("X", "."),
                     f"¥{a * 100:,}", f"{a} kr", f"USD {a}.{c:02d}", f"{a:,}.{c:02d} CHF", f"zł{a},{c:02d}"])


def biz_date():
    y, m, d = R.randint(2022, 2025), R.randint(1, 12), R.randint(1, 28)
    return R.choice([f"{y}-{m:02d}-{d:02d}", f"{d:02d}.{m:02d}.{y}", f"{m:02d}/{d:02d}/{y}", f"{d} {['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][m - 1]} {y}"])


def ts():
    return f"{R.randint(2023, 2025)}-{R.randint(1, 12):02d}-{R.randint(1, 28):02d}T{R.randint(0, 23):02d}:{R.randint(0, 59):02d}:{R.randint(0, 59):02d}.{R.randint(0, 999):03d}Z"


def version():
    return R.choice([f"v{R.randint(1, 9)}.{R.randint(0, 30)}.{R.randint(0, 20)}", f"{R.randint(1, 4)}.{R.randint(0, 9)}.{R.randint(0, 9)}-rc.{R.randint(1, 5)}",
                     f"{R.randint(1, 12)}.{R.randint(0, 9)}.{R.randint(0, 9)}.{R.randint(100, 9999)}",
                     f"{R.randint(10, 99)}.{R.randint(0, 5)}.{R.randint(0, 9)}.{R.randint(1, 250)}"])


def bic():
    return rs(4, string.ascii_uppercase) + R.choice(["DE", "GB", "FR", "NL", "ES", "IT", "CH"]) + rs(2, string.ascii_uppercase + "0123456789") + R.choice(["", "XXX", rs(3, string.ascii_uppercase)])


def aba():
    while True:
        d = [int(c) for c in R.choice(["0", "1", "2", "3"]) + digits(8)]
        if (3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + (d[2] + d[5] + d[8])) % 10 == 0:
            return "".join(map(str, d))


def tracking():
    return R.choice(["1Z" + rs(6, string.ascii_uppercase + string.digits) + digits(10),
                     digits(12), "9400" + digits(18), "7" + digits(11), "JD" + digits(18)])


def luhn_fail():
    while True:
        c = card(valid=False)
        if not luhn_ok(c):
            return c


def bad_ssn():
    return ssn(valid=False, sep=R.choice(["-", "-", " "]))


def bad_iban(cc=None):
    while True:
        s = iban(cc, valid=False)
        if not iban_ok(s):
            return s


def case_no():
    return R.choice([digits(8), "0" + digits(7), f"CS-{digits(6)}", f"#{digits(5)}"])


def order_no():
    return R.choice([f"SO-{R.randint(2022, 2025)}-{digits(5)}", f"ORD{digits(9)}", f"{digits(3)}-{digits(7)}-{digits(7)}",
                     f"PO {digits(6)}"])


def phone_like_invoice():
    return R.choice([f"INV-{digits(3)}-{digits(3)}-{digits(4)}", f"{digits(3)}-{digits(3)}-{digits(4)}-A",
                     f"RMA {digits(4)} {digits(4)}", f"{R.randint(2022, 2025)}-{digits(3)}-{digits(4)}"])


# ---------------------------------------------------------------- templates
SIGNOFFS = ["Best regards,", "Kind regards,", "Thanks,", "Cheers,", "Regards,", "Many thanks,", "BR,"]
COMPANIES = ["Northwind Logistics", "Fabrikam Retail", "Kestrel Bio AG", "Aperture Freight", "Lumen Dental Group",
             "Orbital Paper Co.", "Halvorsen Marine AB", "Tessera Payments SAS", "Vértice Consultores SL"]


def ext_loc():
    return R.choice(LOCALES)


def t_support_note():
    loc = R.choice(["en_US", "en_US", "en_GB", "de_DE", "nl_NL"])
    fi, la, full = person(loc)
    af, _, _ = person("en_US")
    b = B()
    b.t("[Case ").x("CASE_NUMBER", case_no()).t(" | Acct ").x("SF_ID", sf_id("001")).t("]\n")
    b.t("Customer ").e("PERSON", full).t(" rang in about a duplicate charge of ").x("MONEY", money()).t(" on invoice ").x("ORDER_NUMBER", order_no()).t(". ")
    b.t(R.choice(["She", "He", "They"]) + " wants the refund to the card on file (ending ").x("CARD_LAST4", digits(4)).t(").\n")
    b.t("Verified via callback to ").e("PHONE", phone(loc)).t("; email on record ").e("EMAIL", email_for(fi, la, loc)).t(".\n")
    if R.random() < 0.5:
        b.t("Shipment ").x("TRACKING_NUMBER", tracking()).t(" marked delivered on ").x("BUSINESS_DATE", biz_date()).t(" but ").e("PERSON", fi).t(" says the box was empty.\n")
    if R.random() < 0.4:
        b.t("Escalated to ").e("PERSON", person("en_US")[2]).t(" (Tier 2). ")
    b.t("Next step: ").e("PERSON", af).t(" to confirm with finance by ").x("BUSINESS_DATE", biz_date()).t(".")
    return b.done("support_note")


def t_email_thread():
    loc = R.choice(["en_US", "en_GB", "en_US", "fr_FR", "de_DE", "it_IT"])
    f1, l1, n1 = person(loc)
    f2, l2, n2 = person("en_US")
    e1, e2 = email_for(f1, l1, loc), email_for(f2, l2)
    b = B()
    b.t("Hi ").e("PERSON", f2).t(",\n\nThanks for the quick turnaround. Please use the account below for the remittance from now on:\n\n")
    b.t("    Beneficiary: ").e("PERSON", n1).t("\n    IBAN: ").e("IBAN", iban(LOC_CC.get(loc, "GB"))).t("\n    BIC: ").x("BIC", bic()).t("\n\n")
    so = R.choice(SIGNOFFS)
    if R.random() < 0.5:
        b.t(so.rstrip(",") + " ").e("PERSON", f1).t("\n")
    else:
        b.t(so + "\n").e("PERSON", n1).t("\n")
    b.t("Accounts Payable · " + R.choice(COMPANIES) + "\n")
    b.t(R.choice(["Tel ", "T: ", "Phone: ", "☎ "])).e("PHONE", phone(loc)).t("\n")
    b.e("STREET_ADDRESS", full_addr(loc)).t("\n\n")
    b.t("On " + R.choice(["Tue", "Wed", "Thu"]) + ", " + biz_date() + " at 09:" + digits(2) + ", ").e("PERSON", n2).t(" <").e("EMAIL", e2).t("> wrote:\n")
    b.t("> Hello ").e("PERSON", f1).t(",\n> we still show invoice ").x("ORDER_NUMBER", order_no()).t(" as open (").x("MONEY", money()).t(").\n")
    b.t("> Could you confirm the bank details? Our ref: ").x("SF_ID", sf_id("006")).t("\n>\n> -- \n> ").e("PERSON", n2).t(" | Collections\n> ")
    b.e("PHONE", phone("en_US", ext=True)).t("\n>\n>> From: ").e("EMAIL", e1).t("\n>> Sent: ").x("TIMESTAMP", ts()).t("\n>> Please find the statement attached.")
    return b.done("email_thread_quoted")


def t_chat():
    loc = R.choice(["en_US", "en_GB", "en_US", "es_ES"])
    fi, la, full = person(loc)
    ag = person("en_US")[0]
    b = B()
    b.t("[").x("TIMESTAMP", ts()).t("] ").e("PERSON", ag).t(" (agent): Hi there, who am I chatting with?\n")
    b.t("[visitor] ").e("PERSON", fi).t(": hey it's ").e("PERSON", full).t(", I can't log in 😩\n")
    b.e("PERSON", ag).t(": No worries ").e("PERSON", fi).t("! To verify, what's your date of birth?\n")
    b.e("PERSON", fi).t(": ").e("DATE_OF_BIRTH", dob()).t("\n")
    b.e("PERSON", ag).t(": And the last 4 of your SSN?\n")
    if R.random() < 0.5:
        b.e("PERSON", fi).t(": whole thing is ").e("US_SSN", ssn(sep=R.choice(["-", " ", ""]))).t(" lol\n")
    else:
        b.e("PERSON", fi).t(": ").x("CARD_LAST4", digits(4)).t("\n")
    b.e("PERSON", ag).t(": Thanks. I've reset it — session ").x("UUID", uuid()).t(". Anything else?\n")
    b.e("PERSON", fi).t(": my new number is ").e("PHONE", phone(loc)).t(" and mail ").e("EMAIL", email_for(fi, la, loc)).t(" 👍")
    return b.done("chat_transcript")


def t_call():
    fi, la, full = person("en_US")
    rep = person("en_US")
    b = B()
    b.t("CALL TRANSCRIPT — queue billing-us, recording ").x("UUID", uuid()).t("\n")
    b.t("REP (").e("PERSON", rep[2]).t("): Thank you for calling, this is ").e("PERSON", rep[0]).t(". Can I get your name?\n")
    b.t("CALLER: ").e("PERSON", full).t(".\n")
    b.t("REP: Thanks Mr. " if R.random()<0.5 else "REP: Thanks, ").e("PERSON", la if R.random()<0.3 else fi).t(". Could you confirm the Social on the account?\n")
    s = ssn(sep=R.choice(["-", " "]))
    b.t("CALLER: Sure. ").e("US_SSN", s).t(".\n")
    b.t("REP: And your birthday?\nCALLER: ").e("DATE_OF_BIRTH", dob(R.choice(["long", "us"]))).t(".\n")
    b.t("REP: I see a payment of ").x("MONEY", money()).t(" from routing number ").x("ABA_ROUTING", aba()).t(". Is that yours?\n")
    b.t("CALLER: Yes. Also I moved, new address is ").e("STREET_ADDRESS", full_addr("en_US")).t(".\n")
    b.t("REP: Updated. Your confirmation number is ").x("CASE_NUMBER", phone_like_invoice()).t(". Best callback number?\n")
    b.t("CALLER: ").e("PHONE", phone("en_US", ext=R.random() < 0.4)).t(", that's my work line.")
    return b.done("call_transcript")


def t_sf_json():
    loc = ext_loc() if R.random() < 0.4 else "en_US"
    fi, la, full = person(loc)
    b = B()
    cid = sf_id("003", True)
    b.t('{\n  "totalSize": 1,\n  "done": true,\n  "records": [\n    {\n      "attributes": {"type": "Contact", "url": "/services/data/v60.0/sobjects/Contact/')
    b.x("SF_ID", cid).t('"},\n      "Id": "').x("SF_ID", cid).t('",\n      "AccountId": "').x("SF_ID", sf_id("001")).t('",\n')
    b.t('      "FirstName": "').e("PERSON", fi).t('",\n      "LastName": "').e("PERSON", la).t('",\n')
    b.t('      "Email": "').e("EMAIL", email_for(fi, la, loc)).t('",\n      "MobilePhone": "').e("PHONE", phone(loc)).t('",\n')
    b.t('      "MailingStreet": "').e("STREET_ADDRESS", street(loc)).t('",\n      "MailingPostalCode": "' + FK[loc].postcode() + '",\n')
    if R.random() < 0.6:
        b.t('      "Birthdate": "').e("DATE_OF_BIRTH", dob("iso")).t('",\n')
    b.t('      "LastModifiedDate": "').x("TIMESTAMP", ts().replace("Z", "+0000")).t('",\n')
    b.t('      "Owner": {"attributes": {"type": "User"}, "Name": "').e("PERSON", person("en_US")[2]).t('", "Id": "').x("SF_ID", sf_id("005")).t('"},\n')
    b.t('      "Cases": {"totalSize": 2, "records": [\n')
    b.t('        {"CaseNumber": "').x("CASE_NUMBER", "0" + digits(7)).t('", "Subject": "Portal access for ').e("PERSON", fi).t('", "Amount__c": ').x("MONEY", f"{R.randint(100, 99999)}.{digits(2)}").t('},\n')
    b.t('        {"CaseNumber": "').x("CASE_NUMBER", "0" + digits(7)).t('", "Subject": "Card update", "Card_Fingerprint__c": "').x("SHA256", hexs(64)).t('"}\n      ]}\n    }\n  ]\n}')
    return b.done("sf_json_nested")


def t_csv():
    b = B()
    loc = R.choice(["en_US", "en_GB", "de_DE", "pl_PL", "sv_SE"])
    b.t("contact_id,full_name,email,phone,birth_date,street,iban,last_order_total\n")
    for _ in range(R.randint(2, 4)):
        l2 = R.choice([loc, "en_US"])
        fi, la, full = person(l2)
        b.x("SF_ID", sf_id("003")).t(",")
        b.e("PERSON", full).t(",").e("EMAIL", email_for(fi, la, l2)).t(",").e("PHONE", phone(l2, ext=False)).t(",")
        b.e("DATE_OF_BIRTH", dob("iso")).t(",")
        st = street(l2)
        if "," in st:
            b.t('"').e("STREET_ADDRESS", st).t('"')
        else:
            b.e("STREET_ADDRESS", st)
        b.t(",")
        if R.random() < 0.5:
            b.e("IBAN", iban(LOC_CC.get(l2, "DE"), grouped=False))
        else:
            b.x("INVALID_IBAN_LIKE", bad_iban(LOC_CC.get(l2, "DE")).replace(" ", ""))
        b.t(",").x("MONEY", f"{R.randint(10, 9999)}.{digits(2)}").t("\n")
    return b.done("csv_export")


def t_md_table():
    b = B()
    b.t("### Renewal pipeline — week " + str(R.randint(1, 52)) + "\n\n| Opp | Decision maker | Contact | Phone | Amount | Close |\n|---|---|---|---|---|---|\n")
    for _ in range(R.randint(2, 4)):
        loc = ext_loc()
        fi, la, full = person(loc)
        b.t("| ").x("SF_ID", sf_id("006")).t(" | ").e("PERSON", full).t(" | ").e("EMAIL", email_for(fi, la, loc)).t(" | ").e("PHONE", phone(loc)).t(" | ")
        b.x("MONEY", money()).t(" | ").x("BUSINESS_DATE", biz_date()).t(" |\n")
    b.t("\nOwner: ").e("PERSON", person("en_US")[0]).t(" — ping me if any of these slip.")
    return b.done("markdown_table")


def t_logs():
    b = B()
    svc = R.choice(["crm-sync", "case-router", "billing-api", "portal-auth", "mailer"])
    for _ in range(R.randint(3, 5)):
        b.x("TIMESTAMP", ts()).t(f" {R.choice(['INFO', 'WARN', 'ERROR', 'DEBUG'])} [{svc}] ")
        k = R.choice(["login", "bearer", "trace", "deploy", "webhook", "v6", "conn"])
        if k == "login":
            fi, la, _ = person("en_US")
            b.t("login failed user=").e("EMAIL", email_for(fi, la)).t(" src=").e("IP_ADDRESS", ipv4()).t(" attempts=" + str(R.randint(2, 9)) + "\n")
        elif k == "bearer":
            b.t("upstream 401 hdr.authorization=\"Bearer ").e("API_KEY", api_key(R.choice(["jwt", "openai_proj", "ghp", "stripe"]))).t("\" req=").x("UUID", uuid()).t("\n")
        elif k == "trace":
            b.t("traceparent=00-").x("TRACE_ID", hexs(32)).t("-" + hexs(16) + "-01 latency_ms=" + str(R.randint(3, 900)) + " peer=").e("IP_ADDRESS", ipv4()).t(":" + str(R.randint(1024, 65000)) + "\n")
        elif k == "deploy":
            b.t("deployed build ").x("VERSION", version()).t(" commit=").x("COMMIT_SHA", hexs(R.choice([7, 40]))).t(" by ").e("PERSON", person("en_US")[2]).t("\n")
        elif k == "webhook":
            b.t("signature mismatch, shared_secret=").e("SECRET", secret_hex()).t(" evt=").x("PAYMENT_OBJECT_ID", "evt_" + rs(24)).t("\n")
        elif k == "v6":
            b.t("rate-limited client ").e("IP_ADDRESS", ipv6()).t(" route=/v2/contacts/").x("SF_ID", sf_id("003")).t("\n")
        else:
            u = R.choice(["crm_app", "svc_reporting", "etl"])
            b.t("pool error dsn=postgresql://" + u + ":").e("SECRET", password()).t("@db-" + rs(4).lower() + ".internal:5432/crm sslmode=require\n")
    return b.done("app_logs")


def t_env():
    b = B()
    b.t("# .env.production — DO NOT COMMIT\nAPP_ENV=production\nAPP_VERSION=").x("VERSION", version()).t("\n")
    keys = R.sample(["OPENAI_API_KEY=openai_proj", "ANTHROPIC_API_KEY=anthropic", "STRIPE_SECRET_KEY=stripe", "HF_TOKEN=hf",
                     "NPM_TOKEN=npm", "GOOGLE_MAPS_API_KEY=google", "SLACK_BOT_TOKEN=slack", "GITHUB_TOKEN=github_pat",
                     "AWS_ACCESS_KEY_ID=aws", "OPENAI_LEGACY_KEY=openai"], R.randint(3, 5))
    for kv in keys:
        k, kind = kv.split("=")
        b.t(k + "=").e("API_KEY", api_key(kind)).t("\n")
        if kind == "aws":
            b.t("AWS_SECRET_ACCESS_KEY=").e("SECRET", aws_secret()).t("\nAWS_REGION=eu-central-1\n")
    b.t("DATABASE_URL=postgres://crm_owner:").e("SECRET", password()).t("@" + R.choice(["10.20.3.4", "pg.internal", "db.prod.local"]) + ":5432/crm\n")
    b.t("SMTP_USER=").e("EMAIL", email_for(*person("en_US")[:2])).t("\nSMTP_PASSWORD=").e("SECRET", password()).t("\n")
    b.t("SF_CLIENT_ID=").x("OAUTH_CLIENT_ID", "3MVG9" + rs(80, ALNUM + "._")).t("\nSF_CLIENT_SECRET=").e("SECRET", rs(64, "0123456789ABCDEF")).t("\n")
    b.t("SENTRY_RELEASE=").x("COMMIT_SHA", hexs(40)).t("\nREDIS_URL=redis://:").e("SECRET", rs(24)).t("@cache.internal:6379/0\n")
    return b.done("env_file")


def t_yaml():
    b = B()
    b.t("# helm values for crm-connector\nimage:\n  tag: ").x("VERSION", version()).t("\nintegrations:\n")
    b.t("  github:\n    token: ").e("API_KEY", api_key(R.choice(["ghp", "github_pat"]))).t("\n")
    b.t("  gitlab:\n    token: \"").e("API_KEY", api_key("gitlab")).t("\"\n")
    b.t("  slack:\n    bot_token: '").e("API_KEY", api_key("slack")).t("'\n    signing_secret: ").e("SECRET", secret_hex()).t("\n")
    b.t("database:\n  host: ").e("IP_ADDRESS", ipv4(True)).t("\n  user: connector\n  password: \"").e("SECRET", password()).t("\"\n")
    b.t("  jdbc: jdbc:mysql://connector:").e("SECRET", password()).t("@" + "mysql-01.internal:3306/crm\n")
    b.t("sftp:\n  owner: ").e("PERSON", person("en_US")[2]).t("\n  private_key: |\n    ").e("SECRET", pem_body("    ")).t("\n")
    b.t("tracing:\n  sample_id: ").x("UUID", uuid()).t("\n")
    return b.done("yaml_config")


INTL = {
    "de_DE": ("Notiz zum Kunden: {P} hat angerufen, Rückruf unter {T}. Geburtsdatum: {D}. Neue Anschrift: {A}. E-Mail: {E}. Bankverbindung {I}. Vorgang {C} vom {BD}, Betrag {M}.", "eu_dot"),
    "fr_FR": ("Note client : {P} (né(e) le {D}) souhaite changer d'adresse : {A}. Tél. {T}, courriel {E}. RIB/IBAN : {I}. Dossier {C} du {BD}, montant {M}.", "eu_slash"),
    "es_ES": ("Nota: la clienta {P} llamó desde el {T}. Fecha de nacimiento: {D}. Dirección: {A}. Correo: {E}. Cuenta: {I}. Incidencia {C} abierta el {BD} por {M}.", "eu_slash"),
    "it_IT": ("Appunto: {P}, nato il {D}, ha chiesto di aggiornare l'indirizzo in {A}. Cell. {T}, email {E}. IBAN {I}. Pratica {C} del {BD}, importo {M}.", "eu_slash"),
    "nl_NL": ("Notitie: {P} belde vanaf {T}. Geboortedatum {D}. Nieuw adres: {A}. Mail: {E}. Rekening {I}. Zaak {C} d.d. {BD}, bedrag {M}.", "eu_dash"),
    "pt_BR": ("Anotação: o cliente {P} (data de nascimento {D}) pediu atualização do endereço para {A}. Celular {T}, e-mail {E}. Chamado {C} em {BD}, valor {M}.", "eu_slash"),
    "sv_SE": ("Anteckning: {P} ringde från {T}. Födelsedatum: {D}. Ny adress: {A}. E-post {E}. Konto {I}. Ärende {C} den {BD}, belopp {M}.", "iso"),
    "pl_PL": ("Notatka: {P} zadzwonił(a) z numeru {T}. Data urodzenia: {D}. Nowy adres: {A}. E-mail: {E}. Rachunek {I}. Zgłoszenie {C} z {BD}, kwota {M}.", "eu_dot"),
    "ja_JP": ("顧客メモ：{P}様よりお電話（{T}）。生年月日：{D}。新住所：{A}。メール：{E}。案件番号 {C}（{BD}）、金額 {M}。", "ja"),
}


def t_intl():
    loc = R.choice(list(INTL))
    tpl, dstyle = INTL[loc]
    fi, la, full = person(loc)
    vals = {"P": ("PERSON", full), "T": ("PHONE", phone(loc)), "D": ("DATE_OF_BIRTH", dob("eu_slash").replace("/", "-") if dstyle == "eu_dash" else dob(dstyle)),
            "A": ("STREET_ADDRESS", full_addr(loc)), "E": ("EMAIL", email_for(fi, la, loc)),
            "I": ("IBAN", iban(LOC_CC.get(loc, "DE"))), "C": ("neg:CASE_NUMBER", case_no()), "BD": ("neg:BUSINESS_DATE", biz_date()),
            "M": ("neg:MONEY", money())}
    b = B()
    import re
    pos = 0
    for m in re.finditer(r"\{(\w+)\}", tpl):
        b.t(tpl[pos:m.start()])
        typ, v = vals[m.group(1)]
        if typ.startswith("neg:"):
            b.x(typ[4:], v)
        else:
            b.e(typ, v)
        pos = m.end()
    b.t(tpl[pos:])
    if R.random() < 0.5:
        b.t(" — ").e("PERSON", person(loc)[0])
    return b.done("intl_note_" + loc)


def t_emoji():
    loc = ext_loc()
    fi, la, full = person(loc)
    b = B()
    b.t("🔥 VIP lead from the trade show 🔥\n👤").e("PERSON", full).t("\n📧").e("EMAIL", email_for(fi, la, loc)).t("\n📱").e("PHONE", phone(loc)).t("\n")
    b.t("🏠").e("STREET_ADDRESS", full_addr(loc)).t("\n")
    if R.random() < 0.5:
        b.t("🎂 born ").e("DATE_OF_BIRTH", dob()).t(" (asked for a birthday promo)\n")
    b.t("💰 budget ").x("MONEY", money()).t(" 📅 follow-up ").x("BUSINESS_DATE", biz_date()).t("\n")
    b.t("✅ ").e("PERSON", person("en_US")[0]).t(" owns this, ").e("PERSON", fi).t(" prefers WhatsApp🙂")
    return b.done("emoji_lead")


def t_kyc():
    fi, la, full = person("en_US")
    b = B()
    b.t("KYC REVIEW — applicant file ").x("EMPLOYEE_ID", "APP-" + digits(6)).t("\n")
    b.t("Legal name ........ ").e("PERSON", full).t("\nD.O.B. ............ ").e("DATE_OF_BIRTH", dob()).t("\n")
    b.t("SSN/TIN ........... ").e("US_SSN", ssn(sep=R.choice(["-", " "]))).t("\n")
    b.t("Residential ....... ").e("STREET_ADDRESS", full_addr("en_US")).t("\n")
    b.t("Card for deposit .. ").e("CREDIT_CARD", card()).t(" (exp " + f"{R.randint(1, 12):02d}/{R.randint(26, 31)}" + ")\n")
    b.t("Rejected card ..... ").x("LUHN_FAIL_NUMBER", luhn_fail()).t(" — failed checksum\n")
    b.t("Prior SSN typo .... ").x("INVALID_SSN_LIKE", bad_ssn()).t(" (rejected by validator)\n")
    b.t("Payroll routing ... ").x("ABA_ROUTING", aba()).t("  acct ****" + digits(4) + "\n")
    b.t("Reviewer: ").e("PERSON", person("en_US")[2]).t(" on ").x("BUSINESS_DATE", biz_date()).t("\nDecision ref ").x("UUID", uuid())
    return b.done("kyc_form")


def t_billing():
    loc = R.choice(["en_US", "en_GB", "de_DE", "fr_FR"])
    fi, la, full = person(loc)
    b = B()
    b.t("Payment update request from ").e("PERSON", full).t(" <").e("EMAIL", email_for(fi, la, loc)).t(">:\n")
    b.t("\"Please charge ").e("CREDIT_CARD", card()).t(" instead of the old one. The number ").x("LUHN_FAIL_NUMBER", luhn_fail()).t(" on your form was a typo.\"\n")
    b.t("Stripe customer ").x("PAYMENT_OBJECT_ID", "cus_" + rs(14)).t(", PaymentIntent ").x("PAYMENT_OBJECT_ID", "pi_" + rs(24)).t(", amount ").x("MONEY", money()).t(".\n")
    b.t("SEPA fallback: ").e("IBAN", iban(LOC_CC.get(loc, "DE"))).t(" (mandate ").x("MANDATE_REFERENCE", "MND-" + digits(8)).t("); old IBAN ").x("INVALID_IBAN_LIKE", bad_iban()).t(" bounced.\n")
    b.t("Handled by ").e("PERSON", person("en_US")[0]).t(".")
    return b.done("billing_update")


def t_negative_heavy():
    b = B()
    b.t("Ops digest ").x("BUSINESS_DATE", biz_date()).t("\n- ").x("CASE_NUMBER", case_no()).t(": ").x("TICKET_ID", "JIRA-" + str(R.randint(100, 9999))).t(" fixed in ").x("VERSION", version()).t(" (").x("COMMIT_SHA", hexs(40)).t(")\n")
    b.t("- carrier ref ").x("TRACKING_NUMBER", tracking()).t(", second parcel ").x("TRACKING_NUMBER", tracking()).t("\n")
    b.t("- invoice ").x("ORDER_NUMBER", phone_like_invoice()).t(" disputed, credit note ").x("ORDER_NUMBER", phone_like_invoice()).t(" issued for ").x("MONEY", money()).t("\n")
    b.t("- wire via ").x("BIC", bic()).t(" routing ").x("ABA_ROUTING", aba()).t("; IBAN on the PDF ").x("INVALID_IBAN_LIKE", bad_iban()).t(" fails validation\n")
    b.t("- card-shaped ref in memo: ").x("LUHN_FAIL_NUMBER", luhn_fail()).t("; SSN field contained ").x("INVALID_SSN_LIKE", bad_ssn()).t("\n")
    b.t("- SNMP OID 1.3.6.1.4.1." + digits(4) + " ; firmware ").x("VERSION", f"{R.randint(1, 9)}.{R.randint(0, 9)}.{R.randint(0, 9)}.{R.randint(1, 99)}").t("\n")
    b.t("- records touched: ").x("SF_ID", sf_id(n18=False)).t(", ").x("SF_ID", sf_id(n18=True)).t(", job ").x("UUID", uuid()).t("\n")
    b.t("- ZIP+4 on label ").x("ZIP_PLUS4", f"{digits(5)}-{digits(4)}").t(", employee ").x("EMPLOYEE_ID", "E" + digits(6)).t(", PO ").x("PO_NUMBER", "4500" + digits(6))
    return b.done("negative_heavy")


def t_meeting():
    names = [person(R.choice(["en_US", "en_GB", "de_DE", "fr_FR", "nl_NL"]))[0] for _ in range(4)]
    b = B()
    b.t("QBR prep — attendees: ")
    for i, n in enumerate(names):
        b.e("PERSON", n).t(", " if i < 3 else "\n")
    b.t("Action items:\n- ").e("PERSON", names[0]).t(" to send the revised quote (").x("MONEY", money()).t(") before ").x("BUSINESS_DATE", biz_date()).t("\n")
    b.t("- ").e("PERSON", names[1]).t(" & ").e("PERSON", names[2]).t(" to review the SOW ").x("VERSION", "v" + str(R.randint(1, 5)) + "." + str(R.randint(0, 9))).t("\n")
    b.t("- ask ").e("PERSON", names[3]).t("'s assistant for a slot; customer sponsor ").e("PERSON", person("en_US")[2]).t(" reachable at ").e("PHONE", phone("en_US", ext=True)).t("\n")
    b.t("Opp: ").x("SF_ID", sf_id("006")).t(" stage Negotiation")
    return b.done("meeting_notes")


def t_prompt():
    fi, la, full = person(R.choice(["en_US", "en_GB"]))
    b = B()
    k = R.choice(["a", "b", "c", "d"])
    if k == "a":
        b.t("draft a friendly reminder to ").e("PERSON", fi).t(" at ").e("EMAIL", email_for(fi, la)).t(" that order ").x("ORDER_NUMBER", order_no()).t(" ships ").x("BUSINESS_DATE", biz_date())
    elif k == "b":
        b.t("why does the API reject my key ").e("API_KEY", api_key()).t(" ? it worked yesterday")
    elif k == "c":
        b.t("lookup contact with ip ").e("IP_ADDRESS", R.choice([ipv4(), ipv6()])).t(" and phone ").e("PHONE", phone(R.choice(LOCALES)))
    else:
        b.t("add note to ").x("SF_ID", sf_id("003")).t(": ").e("PERSON", full).t(" confirmed DOB ").e("DATE_OF_BIRTH", dob()).t(", card ").e("CREDIT_CARD", card())
    return b.done("short_prompt")


def t_html_sig():
    loc = R.choice(["en_US", "en_GB", "de_DE", "es_ES"])
    fi, la, full = person(loc)
    b = B()
    b.t("<p>Hi team,</p><p>see attached contract.</p><table><tr><td><b>").e("PERSON", full).t("</b><br>Head of Procurement<br>")
    b.t("<a href=\"mailto:").e("EMAIL", email_for(fi, la, loc)).t("\">email</a> | <a href=\"tel:").e("PHONE", phone(loc)).t("\">call</a><br>")
    b.e("STREET_ADDRESS", full_addr(loc)).t("</td></tr></table>")
    return b.done("html_signature")


TEMPLATES = [(t_support_note, 30), (t_email_thread, 30), (t_chat, 22), (t_call, 18), (t_sf_json, 30), (t_csv, 14),
             (t_md_table, 14), (t_logs, 25), (t_env, 16), (t_yaml, 12), (t_intl, 34), (t_emoji, 14), (t_kyc, 12),
             (t_billing, 12), (t_negative_heavy, 14), (t_meeting, 12), (t_prompt, 20), (t_html_sig, 10)]


def main():
    pool = [f for f, w in TEMPLATES for _ in range(w)]
    R.shuffle(pool)
    out = []
    for i, f in enumerate(pool[:N]):
        rec = f()
        rec = {"id": f"hold-pii-{i:05d}", **rec}
        out.append(rec)
    with open("pii_holdout.jsonl", "w", encoding="utf-8") as fh:
        for r in out:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"wrote {len(out)} records")


if __name__ == "__main__":
    main()
