"""Realistic source files, one per language, each with a documented and an undocumented definition."""

from __future__ import annotations

PYTHON = '''\
"""Module docstring: never a pair."""
import json


def load_config(path, *, strict=True):
    """Read a JSON configuration file and check its required keys."""
    with open(path, encoding="utf-8") as handle:
        config = json.load(handle)
    missing = [key for key in ("name", "version") if key not in config]
    if strict and missing:
        raise KeyError(f"missing keys: {missing}")
    return config


class Cache:
    def get_or_compute(self, key, compute):
        if key not in self.values:
            self.values[key] = compute(key)
            self.misses += 1
        return self.values[key]

    def _evict(self):
        """Drop the oldest entry from the cache."""
        self.values.pop(next(iter(self.values)))
'''

JAVASCRIPT = '''\
/**
 * Copyright (c) 2024 Example Corp. All rights reserved.
 */
'use strict';

/**
 * Debounce a function so it runs at most once per wait period.
 * @param {Function} fn the function to call
 * @param {number} wait milliseconds
 * @returns {Function}
 */
function debounce(fn, wait) {
  let timer = null;
  return function (...args) {
    clearTimeout(timer);
    timer = setTimeout(() => fn.apply(this, args), wait);
  };
}

const formatPrice = (amount, currency = "USD") => {
  const pattern = /\\{(\\w+)\\}/g;
  const text = `${currency} {amount}`;
  return text.replace(pattern, (_, key) => ({ amount }[key] ?? "}"));
};

class Cart {
  /** Add an item to the cart, merging quantities of the same product. */
  addItem(product, quantity = 1) {
    const line = this.lines.find((l) => l.id === product.id);
    if (line) { line.quantity += quantity; } else { this.lines.push({ id: product.id, quantity }); }
    return this;
  }
}
'''

TYPESCRIPT = '''\
import { Request } from "./http";

/**
 * Parse the query string of a request into a typed record.
 *
 * @param req - the incoming request
 */
export async function parseQuery<T extends object>(req: Request): Promise<{ values: T; raw: string }> {
  const raw = req.url.split("?")[1] ?? "";
  const values = Object.fromEntries(new URLSearchParams(raw)) as T;
  return { values, raw };
}

export class UserService {
  constructor(private readonly db: Database) {}

  public async findByEmail(email: string): Promise<User | undefined> {
    const rows = await this.db.query("SELECT * FROM users WHERE email = $1", [email]);
    if (rows.length === 0) {
      return undefined;
    }
    return rows[0] as User;
  }
}
'''

GO = '''\
// Copyright 2023 The Example Authors. All rights reserved.
// Use of this source code is governed by a BSD-style license.

package store

// OpenStore opens the key-value store at path, creating its folder
// when it does not exist yet.
//
//go:noinline
func OpenStore(path string, opts *Options) (*Store, error) {
	if err := os.MkdirAll(path, 0o755); err != nil {
		return nil, fmt.Errorf("mkdir %q: %w {", path, err)
	}
	s := &Store{path: path, opts: opts}
	return s, s.load()
}

func (s *Store) keysWithPrefix(prefix string) []string {
	keys := make([]string, 0, len(s.index))
	for k := range s.index {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	return keys
}
'''

JAVA = '''\
package com.example.orders;

import java.util.List;

public class OrderService {
    private final OrderRepository repository;

    /**
     * Creates a new order for the customer and reserves the stock of every line.
     *
     * @param customerId the customer placing the order
     * @param lines the ordered products
     * @return the saved order
     * @throws OutOfStockException when a product is not available
     */
    @Transactional
    public Order placeOrder(long customerId, List<OrderLine> lines) throws OutOfStockException {
        Order order = new Order(customerId);
        for (OrderLine line : lines) {
            inventory.reserve(line.productId(), line.quantity());
            order.add(line);
        }
        return repository.save(order);
    }

    private static <T> List<T> lastN(List<T> items, int n) {
        int from = Math.max(0, items.size() - n);
        List<T> tail = items.subList(from, items.size());
        log.debug("taking {} of {}", n, items.size());
        return tail;
    }

    public abstract void audit(Order order);
}
'''

C = '''\
/*
 * Copyright (C) 2020 Example Project
 * SPDX-License-Identifier: MIT
 */
#include <stdio.h>
#define BRACE_OPEN {

static int parse_header(const char *buf, size_t len, struct header *out);

/*
 * Count the number of lines in a buffer, treating a trailing
 * partial line as a full line.
 */
size_t count_lines(const char *buf, size_t len)
{
    size_t lines = 0;
    for (size_t i = 0; i < len; i++) {
        if (buf[i] == '\\n' || buf[i] == '{') /* '{' never opens a block here */
            lines++;
    }
    if (len > 0 && buf[len - 1] != '\\n')
        lines++;
    return lines;
}

static int
parse_header(const char *buf, size_t len, struct header *out)
{
    if (len < 4)
        return -1;
    out->magic = buf[0] | (buf[1] << 8);
    out->version = buf[2];
    printf("header: }\\n");
    return 0;
}
'''

CPP = '''\
#include <string>
#include <vector>

namespace text {

/// Split a string on a separator character, keeping empty fields.
std::vector<std::string> split(const std::string& input, char separator) {
    std::vector<std::string> fields;
    std::string current;
    for (char c : input) {
        if (c == separator) { fields.push_back(current); current.clear(); }
        else current += c;
    }
    fields.push_back(current);
    return fields;
}

Tokenizer::Tokenizer(std::string source) : source_(std::move(source)), position_{0} {
    keywords_.insert("if");
    keywords_.insert("while");
    keywords_.insert("return");
}

}  // namespace text
'''

CSHARP = '''\
using System;

namespace Example.Billing
{
    public class InvoiceCalculator
    {
        /// <summary>
        /// Computes the total of an invoice including tax, rounded to cents.
        /// See <see cref="TaxTable"/> for the rates.
        /// </summary>
        /// <param name="invoice">The invoice to total.</param>
        /// <returns>The total amount.</returns>
        [Obsolete("use TotalAsync")]
        public decimal Total(Invoice invoice)
        {
            decimal subtotal = 0m;
            foreach (var line in invoice.Lines)
            {
                subtotal += line.Price * line.Quantity;
            }
            return Math.Round(subtotal * (1 + taxTable.Rate(invoice.Country)), 2);
        }

        private static string FormatAmount(decimal amount, string currency)
        {
            var text = $"{amount:0.00} {currency}";
            var verbatim = @"C:\\temp\\{not a brace}";
            return text.Length > 20 ? text.Substring(0, 20) : text;
        }

        public int Count => lines.Count;
    }
}
'''

RUST = '''\
//! Helpers for reading configuration files.

use std::collections::HashMap;

/// Parse `key = value` lines into a map, ignoring comments.
///
/// # Examples
///
/// ```
/// let map = parse_pairs("a = 1");
/// ```
pub fn parse_pairs<'a>(text: &'a str) -> HashMap<&'a str, &'a str> {
    let mut map = HashMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        if let Some((key, value)) = line.split_once('=') {
            map.insert(key.trim(), value.trim());
        }
    }
    map
}

impl Config {
    #[inline]
    pub(crate) fn get_or<'b>(&'b self, key: &str, default: &'b str) -> &'b str
    where
        Self: Sized,
    {
        let brace = '{';
        let raw = r#"}"#;
        self.values.get(key).map(|v| v.as_str()).unwrap_or(default)
    }
}

trait Store {
    fn load(&self) -> Result<(), Error>;
}
'''

SHELL = '''\
#!/usr/bin/env bash
# Deploy script for the example service.

set -euo pipefail

# Wait until the service answers on its health endpoint,
# giving up after the given number of seconds.
wait_for_health() {
  local url="$1" timeout="${2:-30}"
  for ((i = 0; i < timeout; i++)); do
    curl -fsS "$url/health" >/dev/null && return 0
    sleep 1
  done
  echo "timed out waiting for ${url} }" >&2
  return 1
}

function rotate_logs {
  local dir=$1
  find "$dir" -name '*.log' -mtime +7 -delete
  cat <<EOF > "$dir/README"
Logs older than a week are removed. }
EOF
  echo "rotated ${#dir} logs"
}
'''

RUBY = '''\
# frozen_string_literal: true

module Billing
  class Invoice
    # Compute the total of all line items, applying the discount
    # when the customer has one.
    def total(discount: nil)
      sum = items.sum { |item| item.price * item.quantity }
      sum -= discount.amount if discount
      sum.positive? ? sum : 0
    end

    def to_csv
      rows = items.map do |item|
        [item.name, item.price, "end"].join(",")
      end
      rows.unshift("name,price") if header?
      rows.join("\\n")
    end
  end
end
'''

PHP = '''\
<?php

namespace App\\Http;

class UserController
{
    /**
     * Show the profile page of the given user.
     *
     * @param int $id the user id
     * @return Response
     */
    public function show(int $id): Response
    {
        $user = $this->users->find($id);
        # a hash comment with a brace {
        return view('profile', ['user' => $user, 'title' => "Profile {$user->name}"]);
    }

    private static function slugify(string $text): string
    {
        $text = strtolower(trim($text));
        $text = preg_replace('/[^a-z0-9]+/', '-', $text);
        return trim($text, '-');
    }
}
'''

KOTLIN = '''\
package com.example.search

/**
 * Ranks the documents by how many query terms they contain,
 * highest first.
 *
 * @param query the user's query
 */
fun rankDocuments(query: String, documents: List<Document>): List<Document> {
    val terms = query.lowercase().split(" ")
    return documents.sortedByDescending { doc ->
        terms.count { term -> "${doc.title} ${doc.body}".contains(term) }
    }
}

class Index {
    private fun String.normalize(): String {
        val trimmed = this.trim()
        val lower = trimmed.lowercase()
        return lower.replace(Regex("\\\\s+"), " ")
    }

    fun size() = entries.size
}
'''

SWIFT = '''\
import Foundation

/// Formats a duration in seconds as a short human-readable string,
/// such as "1h 5m".
///
/// - Parameter seconds: the duration to format
/// - Returns: the formatted text
public func formatDuration(_ seconds: Int) -> String {
    let hours = seconds / 3600
    let minutes = (seconds % 3600) / 60
    if hours > 0 {
        return "\\(hours)h \\(minutes)m"
    }
    return "\\(minutes)m"
}

struct Queue<Element> {
    mutating func dequeue() throws -> Element {
        guard !items.isEmpty else { throw QueueError.empty }
        let first = items.removeFirst()
        count -= 1
        return first
    }
}

protocol Describing {
    func describe() -> String
}
'''

SCALA = '''\
package example.stats

object Stats {
  /** Computes the arithmetic mean of the values, or zero when there are none. */
  def mean(values: Seq[Double]): Double = {
    if (values.isEmpty) 0.0
    else values.sum / values.size
  }

  private def variance(values: Seq[Double])(implicit ctx: Context): Double = {
    val m = mean(values)
    val squares = values.map(v => (v - m) * (v - m))
    squares.sum / values.size
  }

  def median(values: Seq[Double]): Double = values.sorted.apply(values.size / 2)
}
'''

# language -> (path, text, expected definitions as (name, start of its doc comment or "" when undocumented))
SAMPLES: dict[str, tuple[str, str, list[tuple[str, str]]]] = {
    "python": ("lib/config.py", PYTHON, [("load_config", "Read a JSON configuration file"),
                                         ("get_or_compute", ""), ("_evict", "Drop the oldest entry")]),
    "javascript": ("src/util.js", JAVASCRIPT, [("debounce", "Debounce a function so it runs"), ("formatPrice", ""),
                                               ("addItem", "Add an item to the cart")]),
    "typescript": ("src/query.ts", TYPESCRIPT, [("parseQuery", "Parse the query string"), ("constructor", ""),
                                                ("findByEmail", "")]),
    "go": ("store/store.go", GO, [("OpenStore", "OpenStore opens the key-value store"), ("keysWithPrefix", "")]),
    "java": ("OrderService.java", JAVA, [("placeOrder", "Creates a new order for the customer"), ("lastN", "")]),
    "c": ("lines.c", C, [("count_lines", "Count the number of lines in a buffer"), ("parse_header", "")]),
    "cpp": ("split.cpp", CPP, [("split", "Split a string on a separator"), ("Tokenizer::Tokenizer", "")]),
    "csharp": ("Invoice.cs", CSHARP, [("Total", "Computes the total of an invoice"), ("FormatAmount", "")]),
    "rust": ("config.rs", RUST, [("parse_pairs", "Parse `key = value` lines"), ("get_or", "")]),
    "shell": ("deploy.sh", SHELL, [("wait_for_health", "Wait until the service answers"), ("rotate_logs", "")]),
    "ruby": ("invoice.rb", RUBY, [("total", "Compute the total of all line items"), ("to_csv", "")]),
    "php": ("UserController.php", PHP, [("show", "Show the profile page"), ("slugify", "")]),
    "kotlin": ("Rank.kt", KOTLIN, [("rankDocuments", "Ranks the documents by how many"), ("normalize", "")]),
    "swift": ("Duration.swift", SWIFT, [("formatDuration", "Formats a duration in seconds"), ("dequeue", "")]),
    "scala": ("Stats.scala", SCALA, [("mean", "Computes the arithmetic mean"), ("variance", "")]),
}
