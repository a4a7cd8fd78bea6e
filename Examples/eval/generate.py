#!/usr/bin/env python3
"""Writes the evaluation sets for the tool router (run once; the output is committed):

  arithmetic.jsonl      word problems with large numbers: id, question, answer (exact), expression (for bc/calc)
  shop-questions.jsonl  questions over Examples/shop.sqlite: id, question, sql (a reference query), answer

Every arithmetic answer is computed exactly with Python's fractions and checked against GNU bc running the
expression; every shop answer is the result of running the reference query on shop.sqlite (a single value as
a scalar, otherwise a list of rows). Deterministic: fixed seed.
"""
import json
import os
import random
import sqlite3
import subprocess
from fractions import Fraction

HERE = os.path.dirname(os.path.abspath(__file__))
rng = random.Random(7_2024)


def exact(fr):
    """A Fraction as an exact decimal string (the sets only use terminating decimals)."""
    fr = Fraction(fr)
    if fr.denominator == 1:
        return str(fr.numerator)
    d, twos, fives = fr.denominator, 0, 0
    while d % 2 == 0:
        d //= 2; twos += 1
    while d % 5 == 0:
        d //= 5; fives += 1
    assert d == 1, f"{fr} does not terminate"
    places = max(twos, fives)
    scaled = abs(fr.numerator) * 10 ** places // fr.denominator
    s = str(scaled).rjust(places + 1, "0")
    s = s[:-places] + "." + s[-places:]
    s = s.rstrip("0").rstrip(".")
    return ("-" if fr < 0 else "") + s


def big(lo_digits, hi_digits):
    n = rng.randint(lo_digits, hi_digits)
    return rng.randint(10 ** (n - 1), 10 ** n - 1)


def money(lo, hi):
    return Fraction(rng.randint(lo * 100, hi * 100), 100)


def fmt_money(fr):
    return f"{exact(fr)}" if fr.denominator == 1 else f"{float(fr):.2f}"


def product_expr(a, b):
    return " * ".join(str(i) for i in range(a, b + 1))


def arithmetic_problems():
    out = []

    def add(question, value, expression):
        out.append({"question": question, "answer": exact(value), "expression": expression})

    for _ in range(10):
        p, r, n = big(6, 9), rng.randint(1, 9), rng.randint(2, 5)
        add(f"A region has {p:,} inhabitants and its population grows by {r}% every year, compounded. "
            f"Exactly how many inhabitants would the formula give after {n} years (do not round)?",
            p * Fraction(100 + r, 100) ** n, f"{p} * (1 + {r}/100)^{n}")
    for _ in range(10):
        a, d = big(7, 12), rng.randint(30, 4000)
        add(f"A factory produces {a:,} bolts per day. How many bolts does it produce in {d:,} days?",
            a * d, f"{a} * {d}")
    for _ in range(9):
        q, price = big(5, 9), money(1, 900)
        add(f"A wholesaler sells {q:,} units at €{fmt_money(price)} each. What is the total revenue in euros?",
            q * price, f"{q} * {exact(price)}")
    for _ in range(8):
        k, m = rng.randint(3, 97), big(8, 15)
        total = k * m
        add(f"A prize fund of €{total:,} is split equally among {k} winners. How many euros does each winner get?",
            Fraction(total, k), f"{total} / {k}")
    for _ in range(6):
        d = rng.randint(2, 3650)
        add(f"Light travels 299,792,458 metres per second. How many metres does it travel in {d:,} days?",
            299792458 * 86400 * d, f"299792458 * 86400 * {d}")
    for n in rng.sample(range(20, 65), 6):
        add(f"One grain of rice is put on the first square of a board, and each following square gets twice as "
            f"many as the one before. How many grains are on square number {n}?", 2 ** (n - 1), f"2^({n} - 1)")
    for n in rng.sample(range(20, 129), 4):
        add(f"Following the same doubling rule, how many grains are on the first {n} squares together?",
            2 ** n - 1, f"2^{n} - 1")
    for _ in range(8):
        p, r, y = big(6, 10), rng.choice([Fraction(x, 4) for x in range(4, 40)]), rng.randint(2, 30)
        add(f"A deposit of €{p:,} earns simple interest of {exact(r)}% per year. How much interest, in euros, "
            f"does it earn in {y} years?", p * r * y / 100, f"{p} * {exact(r)} * {y} / 100")
    for _ in range(8):
        rev, cost = big(10, 14), big(9, 13)
        add(f"A company reported revenue of €{rev:,} and costs of €{cost:,}. What was its profit in euros "
            f"(negative for a loss)?", rev - cost, f"{rev} - {cost}")
    for _ in range(8):
        count = rng.choice([2, 4, 5, 8, 10, 16])
        values = [big(7, 11) for _ in range(count)]
        add(f"The yearly sales of {count} shops were " + ", ".join(f"{v:,}" for v in values) +
            " units. What is the average per shop?", Fraction(sum(values), count),
            f"({' + '.join(map(str, values))}) / {count}")
    for _ in range(6):
        n, unit, power = rng.randint(2, 9000), *rng.choice([("TiB", 4), ("PiB", 5), ("EiB", 6)])
        add(f"How many bytes are in {n:,} {unit}, where 1 KiB is 1024 bytes and each unit is 1024 times the one "
            f"before?", n * 1024 ** power, f"{n} * 1024^{power}")
    for _ in range(5):
        n = rng.randint(2, 5000)
        add(f"How many seconds are there in {n:,} years of 365 days each?", n * 365 * 86400, f"{n} * 365 * 86400")
    for _ in range(7):
        price, disc, tax = big(5, 7), rng.randint(3, 40), rng.choice([5, 7, 19, 20, 21, 23, 25])
        add(f"An item costs €{price:,}. It is discounted by {disc}% and then {tax}% tax is added to the "
            f"discounted price. What is the final price in euros (exact)?",
            price * Fraction(100 - disc, 100) * Fraction(100 + tax, 100),
            f"{price} * (100 - {disc}) / 100 * (100 + {tax}) / 100")
    for n in rng.sample(range(15, 35), 5):
        f = 1
        for i in range(1, n + 1):
            f *= i
        add(f"In how many different orders can {n} distinct books be arranged on a shelf?", f, product_expr(1, n))
    for _ in range(5):
        n = rng.randint(40, 80)
        k = rng.randint(5, 12)
        num = 1
        for i in range(n - k + 1, n + 1):
            num *= i
        den = 1
        for i in range(1, k + 1):
            den *= i
        add(f"How many different groups of {k} people can be chosen from {n} people?", Fraction(num, den),
            f"({product_expr(n - k + 1, n)}) / ({product_expr(1, k)})")
    for _ in range(5):
        start, hours, every = big(3, 6), rng.choice([24, 36, 48, 60]), rng.choice([2, 3, 4])
        add(f"A culture starts with {start:,} bacteria and doubles every {every} hours. How many bacteria are there "
            f"after {hours} hours?", start * 2 ** (hours // every), f"{start} * 2^{hours // every}")
    for _ in range(5):
        amount, rate = big(6, 10), Fraction(rng.randint(8000, 12000), 10000)
        add(f"Convert ${amount:,} to euros at an exchange rate of {exact(rate)} euros per dollar. How many euros "
            f"is that, exactly?", amount * rate, f"{amount} * {exact(rate)}")
    for _ in range(5):
        w, l = big(4, 7), big(4, 7)
        add(f"A rectangular solar farm measures {w:,} m by {l:,} m. What is its area in square metres?", w * l,
            f"{w} * {l}")
    for _ in range(5):
        a, b, c = big(8, 12), big(8, 12), big(8, 12)
        add(f"Three warehouses hold {a:,}, {b:,} and {c:,} items. After {b // 3:,} items are shipped out, how many "
            f"items are left in total?", a + b + c - b // 3, f"{a} + {b} + {c} - {b // 3}")
    for _ in range(4):
        base, years = big(4, 6), rng.randint(10, 40)
        add(f"A collector's coin worth €{base:,} doubles in value every year. What is it worth after {years} years?",
            base * 2 ** years, f"{base} * 2^{years}")
    for i, item in enumerate(out, 1):
        item["id"] = f"arith-{i:03d}"
    return [{"id": p["id"], "question": p["question"], "answer": p["answer"], "expression": p["expression"]} for p in out]


def check_with_bc(problems):
    script = "scale=80\n" + "\n".join(p["expression"].replace(" ", "") for p in problems) + "\n"
    result = subprocess.run(["bc", "-q"], input=script, capture_output=True, text=True, env={"BC_LINE_LENGTH": "0"})
    assert not result.stderr, result.stderr
    lines = result.stdout.strip().split("\n")
    assert len(lines) == len(problems)
    for p, line in zip(problems, lines):
        got = line.rstrip("0").rstrip(".") if "." in line else line
        if got.startswith("."):
            got = "0" + got
        if got.startswith("-."):
            got = "-0" + got[1:]
        assert got == p["answer"], (p, line)


SHOP_QUESTIONS = [
    ("How many customers does the shop have?", "SELECT count(*) FROM customers"),
    ("How many products are out of stock?", "SELECT count(*) FROM products WHERE stock = 0"),
    ("How many orders were placed in 2024?", "SELECT count(*) FROM orders WHERE ordered_on LIKE '2024-%'"),
    ("How many orders were cancelled?", "SELECT count(*) FROM orders WHERE status = 'cancelled'"),
    ("How many orders are in each status?", "SELECT status, count(*) FROM orders GROUP BY status ORDER BY status"),
    ("How many customers live in each country, most first?",
     "SELECT country, count(*) AS n FROM customers GROUP BY country ORDER BY n DESC, country"),
    ("Which city has the most customers?",
     "SELECT city FROM customers GROUP BY city ORDER BY count(*) DESC, city LIMIT 1"),
    ("What is the most expensive product?", "SELECT name FROM products ORDER BY price_cents DESC LIMIT 1"),
    ("What is the cheapest product and its price in cents?",
     "SELECT name, price_cents FROM products ORDER BY price_cents, id LIMIT 1"),
    ("What is the average product price in euros, rounded to 2 decimals?",
     "SELECT round(avg(price_cents) / 100.0, 2) FROM products"),
    ("How many products are in each category?",
     "SELECT c.name, count(*) FROM products p JOIN categories c ON c.id = p.category_id GROUP BY c.name ORDER BY c.name"),
    ("What is the total stock value at cost, in cents?", "SELECT sum(cost_cents * stock) FROM products"),
    ("What is the total stock value at list price, in cents?", "SELECT sum(price_cents * stock) FROM products"),
    ("How many units of products were sold in total (all orders except cancelled ones)?",
     "SELECT sum(i.quantity) FROM order_items i JOIN orders o ON o.id = i.order_id WHERE o.status <> 'cancelled'"),
    ("What is the total revenue in cents from delivered orders, excluding shipping?",
     "SELECT sum(i.quantity * i.unit_price_cents) FROM order_items i JOIN orders o ON o.id = i.order_id "
     "WHERE o.status = 'delivered'"),
    ("What is the total of all order totals (including shipping) for delivered orders, in cents?",
     "SELECT sum(total_cents) FROM order_totals WHERE status = 'delivered'"),
    ("Which order has the highest total, and what is it in cents?",
     "SELECT order_id, total_cents FROM order_totals ORDER BY total_cents DESC, order_id LIMIT 1"),
    ("What is the average order total in cents over all non-cancelled orders, rounded to a whole cent?",
     "SELECT round(avg(total_cents)) FROM order_totals WHERE status <> 'cancelled'"),
    ("Which customer placed the most orders?",
     "SELECT c.name FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.id "
     "ORDER BY count(*) DESC, c.id LIMIT 1"),
    ("Which 3 customers spent the most on non-cancelled orders (totals including shipping)?",
     "SELECT c.name, sum(t.total_cents) AS spent FROM order_totals t JOIN customers c ON c.id = t.customer_id "
     "WHERE t.status <> 'cancelled' GROUP BY c.id ORDER BY spent DESC, c.id LIMIT 3"),
    ("How many customers have never placed an order?",
     "SELECT count(*) FROM customers WHERE id NOT IN (SELECT customer_id FROM orders)"),
    ("Which product sold the most units (non-cancelled orders)?",
     "SELECT p.name FROM order_items i JOIN orders o ON o.id = i.order_id JOIN products p ON p.id = i.product_id "
     "WHERE o.status <> 'cancelled' GROUP BY p.id ORDER BY sum(i.quantity) DESC, p.id LIMIT 1"),
    ("Which products have never been ordered?",
     "SELECT name FROM products WHERE id NOT IN (SELECT product_id FROM order_items) ORDER BY name"),
    ("What is the revenue per category in cents (non-cancelled orders, excluding shipping), highest first?",
     "SELECT c.name, sum(i.quantity * i.unit_price_cents) AS revenue FROM order_items i "
     "JOIN orders o ON o.id = i.order_id JOIN products p ON p.id = i.product_id JOIN categories c ON c.id = p.category_id "
     "WHERE o.status <> 'cancelled' GROUP BY c.id ORDER BY revenue DESC"),
    ("How many order lines were sold below the product's current list price?",
     "SELECT count(*) FROM order_items i JOIN products p ON p.id = i.product_id WHERE i.unit_price_cents < p.price_cents"),
    ("How many employees work in each department?",
     "SELECT d.name, count(*) FROM employees e JOIN departments d ON d.id = e.department_id GROUP BY d.id ORDER BY d.name"),
    ("What is the total yearly salary bill in euros?", "SELECT sum(salary) FROM employees"),
    ("Which department has the highest total salary?",
     "SELECT d.name FROM employees e JOIN departments d ON d.id = e.department_id GROUP BY d.id "
     "ORDER BY sum(e.salary) DESC LIMIT 1"),
    ("Who is the highest-paid employee?", "SELECT name FROM employees ORDER BY salary DESC, id LIMIT 1"),
    ("What is the average salary in the Sales department, rounded to whole euros?",
     "SELECT round(avg(e.salary)) FROM employees e JOIN departments d ON d.id = e.department_id WHERE d.name = 'Sales'"),
    ("How many employees report to the Sales lead?",
     "SELECT count(*) FROM employees WHERE manager_id = (SELECT e.id FROM employees e JOIN departments d "
     "ON d.id = e.department_id WHERE d.name = 'Sales' AND e.manager_id IS NULL)"),
    ("Which employees have no manager?", "SELECT name FROM employees WHERE manager_id IS NULL ORDER BY id"),
    ("Who was hired first, and when?", "SELECT name, hired_on FROM employees ORDER BY hired_on, id LIMIT 1"),
    ("How many employees were hired in 2020 or later?", "SELECT count(*) FROM employees WHERE hired_on >= '2020-01-01'"),
    ("Which department's salary bill is furthest below its budget, and by how many euros?",
     "SELECT d.name, d.budget - sum(e.salary) AS headroom FROM departments d JOIN employees e ON e.department_id = d.id "
     "GROUP BY d.id ORDER BY headroom DESC LIMIT 1"),
    ("Which sales employee handled the most orders?",
     "SELECT e.name FROM orders o JOIN employees e ON e.id = o.employee_id GROUP BY e.id ORDER BY count(*) DESC, e.id LIMIT 1"),
    ("How many orders did each sales employee handle?",
     "SELECT e.name, count(*) FROM orders o JOIN employees e ON e.id = o.employee_id GROUP BY e.id ORDER BY e.id"),
    ("How many orders were placed in each month of 2024?",
     "SELECT substr(ordered_on, 1, 7) AS month, count(*) FROM orders WHERE ordered_on LIKE '2024-%' "
     "GROUP BY month ORDER BY month"),
    ("In which month of 2023 were the most orders placed?",
     "SELECT substr(ordered_on, 1, 7) AS month FROM orders WHERE ordered_on LIKE '2023-%' GROUP BY month "
     "ORDER BY count(*) DESC, month LIMIT 1"),
    ("How much shipping, in cents, was charged on all orders together?", "SELECT sum(shipping_cents) FROM orders"),
    ("How many orders had free shipping?", "SELECT count(*) FROM orders WHERE shipping_cents = 0"),
    ("What is the largest number of different products in a single order?",
     "SELECT max(n) FROM (SELECT count(*) AS n FROM order_items GROUP BY order_id)"),
    ("How many orders contain exactly one product?",
     "SELECT count(*) FROM (SELECT order_id FROM order_items GROUP BY order_id HAVING count(*) = 1)"),
    ("What is the gross margin in cents on all delivered order lines (price paid minus current cost)?",
     "SELECT sum(i.quantity * (i.unit_price_cents - p.cost_cents)) FROM order_items i JOIN orders o ON o.id = i.order_id "
     "JOIN products p ON p.id = i.product_id WHERE o.status = 'delivered'"),
    ("Which product has the highest margin per unit (price minus cost), in cents?",
     "SELECT name, price_cents - cost_cents AS margin FROM products ORDER BY margin DESC, id LIMIT 1"),
    ("How many customers joined in 2022?", "SELECT count(*) FROM customers WHERE joined_on LIKE '2022-%'"),
    ("What is the email address of customer number 42?", "SELECT email FROM customers WHERE id = 42"),
    ("How many orders did customers from France place?",
     "SELECT count(*) FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.country = 'France'"),
    ("What is the total revenue in cents (order totals, non-cancelled) per country, highest first?",
     "SELECT c.country, sum(t.total_cents) AS revenue FROM order_totals t JOIN customers c ON c.id = t.customer_id "
     "WHERE t.status <> 'cancelled' GROUP BY c.country ORDER BY revenue DESC"),
    ("How many pending orders are there, and what is their combined total in cents?",
     "SELECT count(*), sum(total_cents) FROM order_totals WHERE status = 'pending'"),
    ("Which products in the Books category cost more than 50 euros?",
     "SELECT p.name FROM products p JOIN categories c ON c.id = p.category_id WHERE c.name = 'Books' "
     "AND p.price_cents > 5000 ORDER BY p.name"),
    ("What is the total number of units in stock?", "SELECT sum(stock) FROM products"),
    ("How many products have fewer than 10 units in stock?", "SELECT count(*) FROM products WHERE stock < 10"),
    ("What is the average number of items (units) per order, over all orders, rounded to 2 decimals?",
     "SELECT round(avg(units), 2) FROM (SELECT sum(quantity) AS units FROM order_items GROUP BY order_id)"),
    ("What was the first order placed, by date, and who placed it?",
     "SELECT o.id, c.name, o.ordered_on FROM orders o JOIN customers c ON c.id = o.customer_id "
     "ORDER BY o.ordered_on, o.id LIMIT 1"),
    ("How many distinct customers ordered something in December 2024?",
     "SELECT count(DISTINCT customer_id) FROM orders WHERE ordered_on LIKE '2024-12-%'"),
    ("How many customers have an email address at example.com?",
     "SELECT count(*) FROM customers WHERE email LIKE '%@example.com'"),
]


def shop_questions():
    db = sqlite3.connect("file:" + os.path.join(HERE, "..", "shop.sqlite") + "?mode=ro", uri=True)
    out = []
    for i, (question, sql) in enumerate(SHOP_QUESTIONS, 1):
        rows = [list(r) for r in db.execute(sql).fetchall()]
        answer = rows[0][0] if len(rows) == 1 and len(rows[0]) == 1 else rows
        out.append({"id": f"shop-{i:03d}", "question": question, "sql": sql, "answer": answer})
    return out


def write(name, items):
    with open(os.path.join(HERE, name), "w") as f:
        for item in items:
            f.write(json.dumps(item, ensure_ascii=False) + "\n")


def main():
    problems = arithmetic_problems()
    check_with_bc(problems)
    write("arithmetic.jsonl", problems)
    questions = shop_questions()
    write("shop-questions.jsonl", questions)
    print(f"wrote {len(problems)} arithmetic problems (checked with bc) and {len(questions)} shop questions")


if __name__ == "__main__":
    main()
