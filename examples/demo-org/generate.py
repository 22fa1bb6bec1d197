#!/usr/bin/env python3
"""Generates the demo org's records: Northwind Outfitters, a fictional outdoor-gear wholesaler.

Deterministic (fixed seed, Python 3.11+ standard library only): running it again rewrites the
same files byte for byte. Every person, company, address and number is made up; emails use
example.com / example.org / example.net, phones the reserved 555-01xx range.

    python3 examples/demo-org/generate.py

Writes records/<Object>.csv (Task as records/Task.jsonl) next to this file, then checks that
org.yaml names the ids this script fixes (users, the customers' contacts, the manually shared
opportunity).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
RECORDS = HERE / "records"
SEED = 20260701
TODAY = dt.date(2026, 1, 15)  # fixed, so the output never depends on the clock

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"

PREFIX = {
    "User": "005",
    "Account": "001",
    "Contact": "003",
    "Lead": "00Q",
    "Opportunity": "006",
    "Case": "500",
    "Order": "801",
    "Task": "00T",
    "Warranty_Claim__c": "a00",
}


def record_id(object_name: str, n: int) -> str:
    """An 18-character id: key prefix, a pod-like `Hn00000`, five base62 digits, checksum.

    The checksum is computed exactly as crates/heddle-records/src/id.rs does: for each
    5-character chunk of the 15-character body, bit i is set when character i is A-Z, and the
    5-bit value indexes ABCDEFGHIJKLMNOPQRSTUVWXYZ012345.
    """
    digits = ""
    for _ in range(5):
        digits = BASE62[n % 62] + digits
        n //= 62
    body = PREFIX[object_name] + "Hn00000" + digits
    assert len(body) == 15
    suffix = ""
    for start in range(0, 15, 5):
        bits = sum(1 << i for i, c in enumerate(body[start : start + 5]) if "A" <= c <= "Z")
        suffix += SUFFIX_ALPHABET[bits]
    return body + suffix


# --- People -----------------------------------------------------------------------------

USERS = {
    "ceo": record_id("User", 1),
    "sales.vp": record_id("User", 2),
    "rep.ana": record_id("User", 3),
    "rep.ben": record_id("User", 4),
    "support.lead": record_id("User", 5),
    "agent.cho": record_id("User", 6),
    "agent.dev": record_id("User", 7),
    "admin": record_id("User", 8),
    "customer.ivy": record_id("User", 9),
    "customer.jon": record_id("User", 10),
    "customer.kai": record_id("User", 11),
    "svc.erp": record_id("User", 12),
}

# The three portal customers are the first three contacts, at the first three accounts.
CUSTOMERS = [
    # login, first, last, account number
    ("customer.ivy", "Ivy", "Chen", 1),
    ("customer.jon", "Jonas", "Weber", 2),
    ("customer.kai", "Kai", "Nakamura", 3),
]
# Rep Ana's first opportunity, shared by hand with support agent Cho (see org.yaml).
SHARED_OPPORTUNITY = record_id("Opportunity", 1)

FIRST_NAMES = """Aaliyah Abel Ada Adrian Aiko Alba Alec Alma Amara Amir Anders Anika Arjun Astrid
Aurora Bea Bram Caleb Camila Cyrus Dalia Daniel Dara Elena Elif Emil Esme Ezra Farah Felix Freya
Gideon Greta Hana Hugo Ines Isaac Jada Jonah Juno Kaito Kira Lars Leila Lena Levi Lila Luca Mae
Malik Mara Mateo Maya Milo Mira Nadia Nico Nina Noor Omar Opal Oren Paloma Quinn Rafael Rhea Rosa
Rowan Sami Selma Silas Sora Tariq Tessa Theo Uma Valentin Vera Wren Yara Yusuf Zane Zara""".split()
LAST_NAMES = """Abara Achterberg Alvarez Bakker Banerjee Berg Castillo Dahl Delacroix Duarte
Eriksen Falk Ferreira Fischer Garza Haddad Halvorsen Ibarra Iwasaki Jansen Kaur Keller Kowalski
Lindqvist Lopez Maddox Marin Moreau Nakagawa Novak Oyelaran Park Pereira Quintero Rahman Reyes
Rossi Sato Schmidt Silva Sorensen Tanaka Thorne Uchenna Vasquez Vogel Wallace Whitfield Yilmaz
Young Zielinski""".split()
STREETS = """Alder Aspen Basalt Birch Cedar Cinder Copper Cypress Elm Fern Granite Hawthorn
Heron Juniper Larch Maple Meadow Oak Osprey Pine Quarry Ridge Sage Spruce Summit Timber Willow""".split()
STREET_KINDS = ["Way", "Street", "Road", "Lane", "Trail", "Avenue", "Court"]
CITIES = [
    "Cedar Falls", "Bridgeport", "Lakeview", "Riverton", "Fairhaven", "Pine Bluff", "Millbrook",
    "Stonehaven", "Westfield", "Ashford",
]
AREA_CODES = ["206", "303", "406", "503", "541", "720", "801", "907"]

COMPANY_FIRST = """Alpine Basecamp Bluebird Boulder Canyon Cascade Cedar Cliffside Compass
Crestline Driftwood Evergreen Fjord Glacier Granite Harbor Highland Ironwood Juniper Lakeshore
Lodgepole Maplewood Moraine Northstar Pinnacle Prairie Redrock Ridgeline Riverbend Sawtooth Sierra
Silverado Snowline Summit Timberline Trailhead Tundra Valley Vista Westwind Wildflower""".split()
COMPANY_SECOND = [
    "Outdoor Supply", "Sports", "Mountain Shop", "Outfitters", "Adventure Co.", "Trading Post",
    "Gear Exchange", "Camping", "Expeditions", "Ski & Board", "Scout Council", "Hiking Club",
    "Rentals", "Field School",
]
INDUSTRIES = ["Retail", "Retail", "Retail", "Manufacturing", "Healthcare", "Finance", "Technology"]

# Product → the parts that fail on it (warranty claims name one).
PRODUCTS = {
    "Summit Tent 2P": ["pole", "zipper", "seam tape"],
    "Ridge Backpack 45L": ["buckle", "shoulder strap", "zipper"],
    "Trailhead Boots": ["sole", "eyelet", "lining"],
    "Glacier Parka": ["zipper", "seam tape", "hood toggle"],
    "Basecamp Stove": ["burner", "igniter", "valve"],
    "Canyon Sleeping Bag": ["zipper", "baffle", "drawcord"],
    "Alpine Trekking Poles": ["lock", "tip", "grip"],
}
CASE_SUBJECTS = [
    ("{p}: {part} failed", "Part failed after a few uses; customer asks for repair or replacement."),
    ("{p} arrived damaged", "Outer carton crushed in transit; several units scratched."),
    ("Missing items in {p} shipment", "Packing list and delivered quantity do not match."),
    ("Wrong variant delivered for {p}", "Size or color differs from the purchase order."),
    ("Invoice question on {p} order", "Unit price on the invoice differs from the quote."),
    ("{p}: {part} defect on several units", "Store reports the same defect on more than one unit."),
    ("Late delivery of {p}", "Promised date passed; store event this weekend."),
    ("Return authorization for {p}", "Customer wants an RMA for unsold stock."),
]
TASK_SUBJECTS = [
    "Call about spring order", "Send updated price list", "Follow up on quote", "Schedule demo",
    "Confirm delivery window", "Check warranty status", "Send catalog", "Review open cases",
    "Renewal discussion", "Onboarding call",
]
CLAIM_STATUSES = ["Submitted", "Under Review", "Approved", "Rejected", "Replacement Shipped"]


class Generator:
    def __init__(self) -> None:
        self.rng = random.Random(SEED)
        self.used_emails: set[str] = set()

    # Small helpers, all drawing from the one seeded generator.
    def pick(self, items):
        return self.rng.choice(items)

    def weighted(self, pairs):
        items, weights = zip(*pairs)
        return self.rng.choices(items, weights=weights, k=1)[0]

    def phone(self) -> str:
        return f"({self.pick(AREA_CODES)}) 555-01{self.rng.randint(0, 99):02d}"

    def street(self) -> str:
        return f"{self.rng.randint(10, 9899)} {self.pick(STREETS)} {self.pick(STREET_KINDS)}"

    def date_around(self, days_before: int, days_after: int) -> str:
        return (TODAY + dt.timedelta(days=self.rng.randint(-days_before, days_after))).isoformat()

    def birthdate(self) -> str:
        return (dt.date(1955, 1, 1) + dt.timedelta(days=self.rng.randint(0, 17000))).isoformat()

    def email(self, first: str, last: str, domain: str) -> str:
        base = f"{first}.{last}".lower().replace(" ", "")
        email, n = f"{base}@{domain}", 1
        while email in self.used_emails:
            n += 1
            email = f"{base}{n}@{domain}"
        self.used_emails.add(email)
        return email

    # --- Objects ------------------------------------------------------------------------

    def accounts(self, count: int) -> list[dict]:
        names: set[str] = set()
        rows = []
        for n in range(1, count + 1):
            while True:
                name = f"{self.pick(COMPANY_FIRST)} {self.pick(COMPANY_SECOND)}"
                if name not in names:
                    names.add(name)
                    break
            # The three customers' accounts have fixed owners (see README); the rest spread.
            owner = {1: "rep.ana", 2: "rep.ben", 3: "sales.vp"}.get(n) or self.weighted(
                [("rep.ana", 40), ("rep.ben", 40), ("sales.vp", 12), ("ceo", 4), ("admin", 4)]
            )
            slug = "".join(c for c in name.lower() if c.isalnum())[:24]
            employees = self.rng.randint(3, 900)
            rows.append(
                {
                    "Id": record_id("Account", n),
                    "OwnerId": USERS[owner],
                    "Name": name,
                    "Industry": self.pick(INDUSTRIES),
                    "Phone": self.phone(),
                    "Website": f"https://{slug}.example.com",
                    "AnnualRevenue": employees * self.rng.randint(60, 240) * 1000,
                    "NumberOfEmployees": employees,
                    "_domain": f"{slug}.example.com",
                }
            )
        return rows

    def contacts(self, accounts: list[dict], count: int, private: int) -> list[dict]:
        rows = []
        for n, (_, first, last, account_n) in enumerate(CUSTOMERS, start=1):
            rows.append(self.contact(n, accounts[account_n - 1], first, last))
        n = len(rows)
        while n < count - private:
            n += 1
            account = accounts[(n - 1) % len(accounts)]
            rows.append(self.contact(n, account, self.pick(FIRST_NAMES), self.pick(LAST_NAMES)))
        # A few private contacts (no account): only their owner sees them.
        while n < count:
            n += 1
            row = self.contact(n, None, self.pick(FIRST_NAMES), self.pick(LAST_NAMES))
            row["OwnerId"] = USERS[self.pick(["rep.ana", "rep.ben"])]
            rows.append(row)
        return rows

    def contact(self, n: int, account: dict | None, first: str, last: str) -> dict:
        domain = account["_domain"] if account else self.pick(["example.org", "example.net"])
        return {
            "Id": record_id("Contact", n),
            # Contacts follow their account (controlled by parent); the owner is the account's.
            "OwnerId": account["OwnerId"] if account else "",
            "FirstName": first,
            "LastName": last,
            "Email": self.email(first, last, domain),
            "Phone": self.phone(),
            "Birthdate": self.birthdate() if self.rng.random() < 0.7 else "",
            "AccountId": account["Id"] if account else "",
        }

    def leads(self, count: int) -> list[dict]:
        rows = []
        for n in range(1, count + 1):
            first, last = self.pick(FIRST_NAMES), self.pick(LAST_NAMES)
            company = f"{self.pick(COMPANY_FIRST)} {self.pick(COMPANY_SECOND)}"
            rows.append(
                {
                    "Id": record_id("Lead", n),
                    "OwnerId": USERS[
                        self.weighted([("rep.ana", 40), ("rep.ben", 40), ("sales.vp", 15), ("admin", 5)])
                    ],
                    "FirstName": first,
                    "LastName": last,
                    "Company": company,
                    "Email": self.email(first, last, self.pick(["example.com", "example.org"])),
                    "Phone": self.phone() if self.rng.random() < 0.8 else "",
                    "Status": self.weighted(
                        [("Open", 35), ("Working", 30), ("Qualified", 20), ("Unqualified", 15)]
                    ),
                }
            )
        return rows

    def opportunities(self, accounts: list[dict], count: int) -> list[dict]:
        rows = []
        for n in range(1, count + 1):
            # Opportunity 1 is Ivy's account's deal, owned by Ana (the manual share's record).
            account = accounts[0] if n == 1 else self.pick(accounts)
            owner_id = account["OwnerId"]
            if n > 1 and self.rng.random() < 0.1:
                owner_id = USERS["sales.vp"]
            stage = self.weighted(
                [("Prospecting", 15), ("Qualification", 15), ("Proposal", 20), ("Negotiation", 15),
                 ("Closed Won", 25), ("Closed Lost", 10)]
            )
            closed = stage.startswith("Closed")
            rows.append(
                {
                    "Id": record_id("Opportunity", n),
                    "OwnerId": owner_id,
                    "Name": f"{account['Name']} - {self.pick(list(PRODUCTS))} {self.pick(['restock', 'season order', 'rental fleet', 'launch'])}",
                    "AccountId": account["Id"],
                    "Amount": self.rng.randint(12, 900) * 250,
                    "CloseDate": self.date_around(300, 0) if closed else self.date_around(0, 180),
                    "StageName": stage,
                }
            )
        return rows

    def cases(self, contacts: list[dict], count: int) -> list[dict]:
        with_account = [c for c in contacts if c["AccountId"]]
        rows = []
        for n in range(1, count + 1):
            # Each portal customer has a handful of cases; the rest go to other contacts.
            contact = contacts[(n - 1) // 6] if n <= 18 else self.pick(with_account)
            subject, description = self.pick(CASE_SUBJECTS)
            product = self.pick(list(PRODUCTS))
            status = self.weighted([("New", 20), ("Working", 30), ("Escalated", 10), ("Closed", 40)])
            web = self.rng.random() < 0.3
            rows.append(
                {
                    "Id": record_id("Case", n),
                    "OwnerId": USERS[
                        self.weighted(
                            [("agent.cho", 40), ("agent.dev", 40), ("support.lead", 12),
                             ("rep.ana", 4), ("rep.ben", 4)]
                        )
                    ],
                    "Subject": subject.format(p=product, part=self.pick(PRODUCTS[product])),
                    "Description": description,
                    "Status": status,
                    "Priority": self.weighted([("Low", 35), ("Medium", 45), ("High", 20)]),
                    "AccountId": contact["AccountId"],
                    "ContactId": contact["Id"],
                    "SuppliedEmail": contact["Email"] if web else "",
                }
            )
        return rows

    def orders(self, contacts: list[dict], accounts: list[dict], count: int) -> list[dict]:
        by_account: dict[str, list[dict]] = {}
        for c in contacts:
            if c["AccountId"]:
                by_account.setdefault(c["AccountId"], []).append(c)
        rows = []
        for n in range(1, count + 1):
            if n <= 15:  # five orders for each portal customer
                contact = contacts[(n - 1) // 5]
                account = next(a for a in accounts if a["Id"] == contact["AccountId"])
            else:
                account = self.pick(accounts)
                people = by_account.get(account["Id"], [])
                contact = self.pick(people) if people and self.rng.random() < 0.9 else None
            # Most orders are written by the ERP sync; some by the account's owner.
            owner_id = USERS["svc.erp"] if self.rng.random() < 0.6 else account["OwnerId"]
            status = self.weighted([("Draft", 10), ("Activated", 25), ("Shipped", 55), ("Cancelled", 10)])
            rows.append(
                {
                    "Id": record_id("Order", n),
                    "OwnerId": owner_id,
                    "AccountId": account["Id"],
                    "ContactId": contact["Id"] if contact else "",
                    "Status": status,
                    "EffectiveDate": self.date_around(365, 30),
                    "TotalAmount": f"{self.rng.randint(20, 4000) * 12.5:.2f}",
                    "ShippingStreet": f"{self.street()}, {self.pick(CITIES)}",
                }
            )
        return rows

    def tasks(self, contacts: list[dict], count: int) -> list[dict]:
        with_account = [c for c in contacts if c["AccountId"]]
        rows = []
        for n in range(1, count + 1):
            contact = self.pick(with_account)
            row = {
                "Id": record_id("Task", n),
                "OwnerId": USERS[
                    self.weighted(
                        [("rep.ana", 30), ("rep.ben", 30), ("sales.vp", 8), ("agent.cho", 12),
                         ("agent.dev", 12), ("support.lead", 8)]
                    )
                ],
                "Subject": self.pick(TASK_SUBJECTS),
                "ActivityDate": self.date_around(60, 60),
                "Status": self.weighted([("Not Started", 40), ("In Progress", 25), ("Completed", 35)]),
                "WhoId": contact["Id"],
                "WhatId": contact["AccountId"],
                "IsHighPriority": self.rng.random() < 0.15,
            }
            rows.append(row)
        return rows

    def warranty_claims(self, contacts: list[dict], orders: list[dict], count: int) -> list[dict]:
        orders_by_account: dict[str, list[dict]] = {}
        for o in orders:
            orders_by_account.setdefault(o["AccountId"], []).append(o)
        with_account = [c for c in contacts if c["AccountId"]]
        rows = []
        for n in range(1, count + 1):
            contact = contacts[(n - 1) // 3] if n <= 9 else self.pick(with_account)
            # A customer's own orders first, so the claim points at something they bought.
            candidates = [o for o in orders_by_account.get(contact["AccountId"], [])
                          if o["ContactId"] == contact["Id"]] or orders_by_account.get(contact["AccountId"], [])
            order = self.pick(candidates) if candidates else None
            product = self.pick(list(PRODUCTS))
            rows.append(
                {
                    "Id": record_id("Warranty_Claim__c", n),
                    "OwnerId": USERS[self.weighted([("agent.cho", 45), ("agent.dev", 45), ("support.lead", 10)])],
                    "Subject__c": f"{product}: {self.pick(PRODUCTS[product])} failure",
                    "Status__c": self.pick(CLAIM_STATUSES),
                    "Product__c": product,
                    "Serial_Number__c": f"NW-{self.rng.randint(100000, 999999)}-{self.pick('ABCDEFGH')}",
                    "Purchase_Date__c": self.date_around(700, -30),
                    "Claim_Amount__c": self.rng.randint(4, 80) * 5,
                    "Contact__c": contact["Id"],
                    "Account__c": contact["AccountId"],
                    "Order__c": order["Id"] if order else "",
                    "Customer_Phone__c": contact["Phone"],
                    "Return_Street__c": self.street(),
                    "Defect_Notes__c": self.pick(
                        ["Photos attached by customer.", "Inspected at store; defect confirmed.",
                         "Second claim for this item.", "Customer reports normal use only."]
                    ),
                }
            )
        return rows


def csv_text(rows: list[dict], columns: list[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) in (None, "") else str(row[c]) for c in columns])
    return out.getvalue()


def jsonl_text(rows: list[dict], columns: list[str]) -> str:
    lines = []
    for row in rows:
        entry = {c: row[c] for c in columns if row.get(c) not in (None, "")}
        lines.append(json.dumps(entry, ensure_ascii=False, separators=(",", ":")))
    return "\n".join(lines) + "\n"


def main() -> None:
    g = Generator()
    accounts = g.accounts(150)
    contacts = g.contacts(accounts, 450, private=10)
    leads = g.leads(250)
    opportunities = g.opportunities(accounts, 300)
    cases = g.cases(contacts, 350)
    orders = g.orders(contacts, accounts, 250)
    tasks = g.tasks(contacts, 200)
    claims = g.warranty_claims(contacts, orders, 60)

    files = {
        "Account.csv": (accounts, ["Id", "OwnerId", "Name", "Industry", "Phone", "Website",
                                   "AnnualRevenue", "NumberOfEmployees"]),
        "Contact.csv": (contacts, ["Id", "OwnerId", "FirstName", "LastName", "Email", "Phone",
                                   "Birthdate", "AccountId"]),
        "Lead.csv": (leads, ["Id", "OwnerId", "FirstName", "LastName", "Company", "Email",
                             "Phone", "Status"]),
        "Opportunity.csv": (opportunities, ["Id", "OwnerId", "Name", "AccountId", "Amount",
                                            "CloseDate", "StageName"]),
        "Case.csv": (cases, ["Id", "OwnerId", "Subject", "Description", "Status", "Priority",
                             "AccountId", "ContactId", "SuppliedEmail"]),
        "Order.csv": (orders, ["Id", "OwnerId", "AccountId", "ContactId", "Status",
                               "EffectiveDate", "TotalAmount", "ShippingStreet"]),
        "Task.jsonl": (tasks, ["Id", "OwnerId", "Subject", "ActivityDate", "Status", "WhoId",
                               "WhatId", "IsHighPriority"]),
        "Warranty_Claim__c.csv": (claims, ["Id", "OwnerId", "Subject__c", "Status__c",
                                           "Product__c", "Serial_Number__c", "Purchase_Date__c",
                                           "Claim_Amount__c", "Contact__c", "Account__c",
                                           "Order__c", "Customer_Phone__c", "Return_Street__c",
                                           "Defect_Notes__c"]),
    }
    # Private contacts have no account, and their owner was set after the fact.
    assert all(c["OwnerId"] for c in contacts)

    RECORDS.mkdir(exist_ok=True)
    total = 0
    for name, (rows, columns) in files.items():
        text = jsonl_text(rows, columns) if name.endswith(".jsonl") else csv_text(rows, columns)
        (RECORDS / name).write_text(text, encoding="utf-8")
        total += len(rows)
        print(f"{name:24} {len(rows):5} records")
    print(f"{'total':24} {total:5} records")

    # org.yaml is written by hand; it must name the ids fixed here.
    org = (HERE / "org.yaml").read_text(encoding="utf-8")
    fixed = dict(USERS)
    for login, _, _, _ in CUSTOMERS:
        fixed[f"{login}'s contact"] = contacts[[c[0] for c in CUSTOMERS].index(login)]["Id"]
    fixed["shared opportunity"] = SHARED_OPPORTUNITY
    missing = [f"{what} ({rid})" for what, rid in fixed.items() if rid not in org]
    if missing:
        raise SystemExit("org.yaml does not mention: " + ", ".join(missing))
    for login, rid in USERS.items():
        print(f"  {login:14} {rid}")
    for login, first, last, _ in CUSTOMERS:
        print(f"  {first} {last}'s contact: {fixed[login + chr(39) + 's contact']}")


if __name__ == "__main__":
    main()
