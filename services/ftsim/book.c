/*
 * book: the simulated trades and the dry-run wallet, with FreqTrade's
 * profit arithmetic (persistence/trade_model.py calc_profit*, wallets.py
 * _update_dry, get_starting_balance).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/ftsim/ftsim.h"

void book_init(struct ft_book *b, double wallet, double ratio)
{
	memset(b, 0, sizeof(*b));
	b->next_id = 1;
	b->start_cap = wallet;
	b->tradable_ratio = ratio;
}

void book_release(struct ft_book *b)
{
	free(b->t);
	b->t = NULL;
	b->n = b->cap = 0;
}

struct ft_trade *book_add(struct ft_book *b)
{
	if (b->n == b->cap) {
		size_t nc = b->cap ? b->cap * 2 : 16;
		struct ft_trade *t = realloc(b->t, nc * sizeof(*t));
		if (!t)
			return NULL;
		b->t = t;
		b->cap = nc;
	}
	struct ft_trade *t = &b->t[b->n++];
	memset(t, 0, sizeof(*t));
	t->id = b->next_id++;
	t->is_open = true;
	return t;
}

struct ft_trade *book_find(struct ft_book *b, int id)
{
	size_t lo = 0, hi = b->n; /* ids ascend */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (b->t[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < b->n && b->t[lo].id == id ? &b->t[lo] : NULL;
}

void book_trim(struct ft_book *b, int max)
{
	size_t closed = 0;
	for (size_t i = 0; i < b->n; i++)
		closed += !b->t[i].is_open;
	if (max <= 0 || closed <= (size_t)max)
		return;
	size_t drop = closed - (size_t)max, o = 0;
	for (size_t i = 0; i < b->n; i++) {
		if (drop && !b->t[i].is_open) {
			/* the wallet keeps their profit */
			b->start_cap += b->t[i].close_profit_abs;
			drop--;
			b->dropped++;
			continue;
		}
		b->t[o++] = b->t[i];
	}
	b->n = o;
}

size_t book_open_count(const struct ft_book *b)
{
	size_t c = 0;
	for (size_t i = 0; i < b->n; i++)
		c += b->t[i].is_open;
	return c;
}

double book_closed_profit(const struct ft_book *b)
{
	double s = 0;
	for (size_t i = 0; i < b->n; i++)
		if (!b->t[i].is_open)
			s += b->t[i].close_profit_abs;
	return s;
}

double book_open_stakes(const struct ft_book *b)
{
	double s = 0;
	for (size_t i = 0; i < b->n; i++)
		if (b->t[i].is_open)
			s += b->t[i].stake_amount;
	return s;
}

double book_free(const struct ft_book *b)
{
	return b->start_cap + book_closed_profit(b) - book_open_stakes(b);
}

double book_total_stake(const struct ft_book *b)
{
	return (book_open_stakes(b) + book_free(b)) * b->tradable_ratio;
}

double book_starting_balance(const struct ft_book *b)
{
	return b->start_cap * b->tradable_ratio;
}

double trade_open_value(const struct ft_trade *t)
{
	double v = t->amount * t->open_rate;
	return v + v * t->fee;
}

static double round8(double d)
{
	return fmt_round(d, 8);
}

struct ft_profit trade_profit(const struct ft_trade *t, double rate)
{
	struct ft_profit p;
	double open = trade_open_value(t);
	double close = t->amount * rate;
	close -= close * t->fee;
	p.abs = round8(close - open);
	p.ratio = open > 0 ? round8(close / open - 1) : 0;
	p.total = p.abs;
	double max_stake = t->stake_amount * (1 + t->fee);
	p.total_ratio = max_stake > 0 ? round8(p.total / max_stake) : 0;
	return p;
}

const char *trade_exit_reason(const struct ft_trade *t, char *out)
{
	switch (t->exit_kind) {
	case EXIT_ROI: return "roi";
	case EXIT_STOP_LOSS: return "stop_loss";
	case EXIT_FORCE: return "force_exit";
	case EXIT_SIGNAL:
		snprintf(out, 32, "strength=%.2f", (double)t->exit_strength);
		return out;
	default: return NULL;
	}
}

const char *trade_enter_tag(const struct ft_trade *t, char *out)
{
	if (t->strength < 0)
		return "force_entry";
	snprintf(out, 32, "strength=%.2f", (double)t->strength);
	return out;
}
