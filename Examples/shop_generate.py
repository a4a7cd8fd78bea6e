#!/usr/bin/env python3
"""Writes Examples/shop.sql, the sample shop database for `mnemo sql`, and builds Examples/shop.sqlite from it.

Run once (the output is committed): python3 Examples/shop_generate.py
The data is made up and generated deterministically (fixed seed), so running it again gives the same SQL.
"""
import os
import random
import sqlite3

HERE = os.path.dirname(os.path.abspath(__file__))
rng = random.Random(20240611)

FIRST = ["Ada", "Ben", "Chloe", "Dev", "Elif", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Kemi", "Liam", "Maya",
         "Noor", "Oscar", "Priya", "Quinn", "Rosa", "Sami", "Tomas", "Uma", "Viktor", "Wen", "Yara", "Zane",
         "Aiko", "Bruno", "Carmen", "Dario", "Esme"]
LAST = ["Park", "Okafor", "Novak", "Silva", "Lindqvist", "Haddad", "Moreau", "Kowalski", "Tanaka", "Byrne",
        "Rossi", "Mensah", "Fischer", "Costa", "Ivanova", "Nakamura", "Olsen", "Duarte", "Kaur", "Brennan"]
CITIES = [("Leeds", "UK"), ("Bristol", "UK"), ("Glasgow", "UK"), ("Dublin", "Ireland"), ("Cork", "Ireland"),
          ("Lyon", "France"), ("Nantes", "France"), ("Porto", "Portugal"), ("Lisbon", "Portugal"),
          ("Utrecht", "Netherlands"), ("Ghent", "Belgium"), ("Aarhus", "Denmark")]

DEPARTMENTS = [(1, "Sales", 420000), (2, "Support", 260000), (3, "Warehouse", 310000), (4, "Marketing", 180000),
               (5, "Engineering", 550000)]
TITLES = {1: ["Sales Lead", "Account Manager", "Sales Associate"], 2: ["Support Lead", "Support Agent"],
          3: ["Warehouse Manager", "Picker", "Packer"], 4: ["Marketing Lead", "Content Writer"],
          5: ["Engineering Lead", "Software Engineer"]}

CATEGORIES = [(1, "Kitchen"), (2, "Garden"), (3, "Books"), (4, "Stationery"), (5, "Lighting"), (6, "Textiles")]
PRODUCTS = {
    1: ["Cast-iron skillet", "Chef's knife", "Bamboo chopping board", "Enamel kettle", "Spice grinder",
        "Ceramic mixing bowl", "Pasta maker", "Coffee press", "Salad spinner", "Bread tin"],
    2: ["Pruning shears", "Watering can", "Seed tray set", "Garden kneeler", "Compost bin", "Bird feeder",
        "Hose reel", "Trowel", "Herb planter", "Rain gauge"],
    3: ["Field guide to birds", "Sourdough handbook", "Atlas of islands", "Knitting patterns", "Night sky almanac",
        "History of maps", "Pocket poetry", "Beginner's Italian", "Mushroom guide", "Tide tables"],
    4: ["Dotted notebook", "Fountain pen", "Ink bottle", "Desk organiser", "Wax seal kit", "Weekly planner",
        "Sketchbook", "Brass ruler", "Letter paper", "Pencil set"],
    5: ["Desk lamp", "Paper lantern", "Reading light", "String lights", "Brass floor lamp", "Candle holder",
        "Wall sconce", "Bedside lamp", "Solar path light", "Night light"],
    6: ["Linen tea towel", "Wool throw", "Cotton apron", "Cushion cover", "Table runner", "Bath towel",
        "Picnic blanket", "Oven glove", "Napkin set", "Draught excluder"],
}
STATUSES = ["delivered"] * 14 + ["shipped"] * 3 + ["pending"] * 2 + ["cancelled"] * 1


def q(v):
    if v is None:
        return "NULL"
    if isinstance(v, str):
        return "'" + v.replace("'", "''") + "'"
    return str(v)


def values(rows):
    return ",\n".join("  (" + ", ".join(q(v) for v in r) + ")" for r in rows)


def main():
    employees = []
    eid = 1
    leads = {}
    for dept, _, _ in DEPARTMENTS:
        for k in range(rng.randint(3, 6)):
            name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
            title = TITLES[dept][0] if k == 0 else rng.choice(TITLES[dept][1:])
            salary = (rng.randint(58, 95) if k == 0 else rng.randint(28, 62)) * 1000
            hired = f"{rng.randint(2012, 2023)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
            manager = None if k == 0 else leads[dept]
            if k == 0:
                leads[dept] = eid
            employees.append((eid, name, dept, title, salary, hired, manager))
            eid += 1

    customers = []
    used = set()
    for cid in range(1, 121):
        while True:
            first, last = rng.choice(FIRST), rng.choice(LAST)
            if (first, last) not in used:
                used.add((first, last))
                break
        city, country = rng.choice(CITIES)
        joined = f"{rng.randint(2019, 2024)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        email = f"{first.lower()}.{last.lower()}@example.com"
        customers.append((cid, f"{first} {last}", email, city, country, joined))

    products = []
    pid = 1
    for cat, names in PRODUCTS.items():
        for name in names:
            price = rng.randint(3, 120) * 100 + rng.choice([0, 50, 95, 99])
            cost = int(price * rng.uniform(0.35, 0.7))
            stock = rng.choice([0, rng.randint(1, 15), rng.randint(16, 250)])
            products.append((pid, name, cat, price, cost, stock))
            pid += 1

    sales = [e[0] for e in employees if e[2] == 1]
    orders, items = [], []
    for oid in range(1, 401):
        customer = rng.randint(1, 120)
        month = rng.randint(1, 12)
        year = rng.choice([2023, 2024, 2024])
        day = rng.randint(1, 28)
        status = rng.choice(STATUSES)
        if year == 2024 and month == 12:
            status = rng.choice(["pending", "shipped"])
        shipping = rng.choice([0, 0, 395, 495, 795])
        orders.append((oid, customer, rng.choice(sales), f"{year}-{month:02d}-{day:02d}", status, shipping))
        for product in rng.sample(range(1, len(products) + 1), rng.randint(1, 5)):
            qty = rng.choice([1, 1, 1, 2, 2, 3, 4, 6])
            price = products[product - 1][3]
            if rng.random() < 0.1:
                price = price * 9 // 10  # a 10% discount on this line
            items.append((oid, product, qty, price))

    sql = f"""-- Sample shop database for `mnemo sql` (made-up data, generated by Examples/shop_generate.py).
-- Money is in integer cents (price_cents, unit_price_cents, shipping_cents, budget and salary in whole euros).
-- Build: sqlite3 Examples/shop.sqlite < Examples/shop.sql   (or run shop_generate.py again)
PRAGMA foreign_keys = ON;
BEGIN;

CREATE TABLE departments (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  budget INTEGER NOT NULL            -- yearly budget in euros
);

CREATE TABLE employees (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  department_id INTEGER NOT NULL REFERENCES departments(id),
  title TEXT NOT NULL,
  salary INTEGER NOT NULL,           -- yearly, in euros
  hired_on TEXT NOT NULL,            -- YYYY-MM-DD
  manager_id INTEGER REFERENCES employees(id)
);

CREATE TABLE customers (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  email TEXT NOT NULL UNIQUE,
  city TEXT NOT NULL,
  country TEXT NOT NULL,
  joined_on TEXT NOT NULL            -- YYYY-MM-DD
);

CREATE TABLE categories (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE
);

CREATE TABLE products (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  category_id INTEGER NOT NULL REFERENCES categories(id),
  price_cents INTEGER NOT NULL,      -- current list price
  cost_cents INTEGER NOT NULL,       -- what the shop pays
  stock INTEGER NOT NULL
);

CREATE TABLE orders (
  id INTEGER PRIMARY KEY,
  customer_id INTEGER NOT NULL REFERENCES customers(id),
  employee_id INTEGER NOT NULL REFERENCES employees(id),   -- the sales employee
  ordered_on TEXT NOT NULL,          -- YYYY-MM-DD
  status TEXT NOT NULL CHECK (status IN ('pending', 'shipped', 'delivered', 'cancelled')),
  shipping_cents INTEGER NOT NULL
);

CREATE TABLE order_items (
  order_id INTEGER NOT NULL REFERENCES orders(id),
  product_id INTEGER NOT NULL REFERENCES products(id),
  quantity INTEGER NOT NULL CHECK (quantity > 0),
  unit_price_cents INTEGER NOT NULL, -- the price paid, after any discount
  PRIMARY KEY (order_id, product_id)
);

CREATE INDEX orders_customer ON orders(customer_id);
CREATE INDEX order_items_product ON order_items(product_id);

-- Each order's total: its lines plus shipping.
CREATE VIEW order_totals AS
SELECT o.id AS order_id, o.customer_id, o.ordered_on, o.status,
       SUM(i.quantity * i.unit_price_cents) + o.shipping_cents AS total_cents
FROM orders o JOIN order_items i ON i.order_id = o.id
GROUP BY o.id;

INSERT INTO departments (id, name, budget) VALUES
{values(DEPARTMENTS)};

INSERT INTO employees (id, name, department_id, title, salary, hired_on, manager_id) VALUES
{values(employees)};

INSERT INTO customers (id, name, email, city, country, joined_on) VALUES
{values(customers)};

INSERT INTO categories (id, name) VALUES
{values(CATEGORIES)};

INSERT INTO products (id, name, category_id, price_cents, cost_cents, stock) VALUES
{values(products)};

INSERT INTO orders (id, customer_id, employee_id, ordered_on, status, shipping_cents) VALUES
{values(orders)};

INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents) VALUES
{values(items)};

COMMIT;
"""
    with open(os.path.join(HERE, "shop.sql"), "w") as f:
        f.write(sql)
    db_path = os.path.join(HERE, "shop.sqlite")
    if os.path.exists(db_path):
        os.remove(db_path)
    db = sqlite3.connect(db_path, isolation_level=None)
    db.executescript(sql)
    db.execute("VACUUM")
    db.close()
    print(f"wrote shop.sql and shop.sqlite: {len(employees)} employees, {len(customers)} customers, "
          f"{len(products)} products, {len(orders)} orders, {len(items)} order items")


if __name__ == "__main__":
    main()
