"""Realistic customer-care traffic for the airline-like brand "Acme Air".

The product is only as good as the data it is tried on, so this produces the awkward mix a
social care team really sees: complaints, questions, praise, chatter, safety and legal
threats, threads with the brand, repeat customers across platforms, high-reach authors,
retweets (which must not become mentions), other languages and hostile text (HTML, markdown
links, spreadsheet formulas, bidi overrides, zero-width characters, ZWJ emoji, long texts).

Everything is drawn from one seeded ``random.Random``: the same seed gives the same texts,
authors and ids on an empty world.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sandbox.phrases import fill
from sandbox.private_traffic import CHANNELS, PrivateTraffic
from sandbox.records import BRAND_X_ID, FB_PAGE_ID, GraphComment
from sandbox.world import World

log = logging.getLogger("sandbox")

#: How often a new customer item comes with a customer starting a private conversation.
PRIVATE_SHARE = 0.12

FIRST = ["Maria", "James", "Aisha", "Chen", "Lucas", "Sofia", "Omar", "Emma", "Diego", "Yuna",
         "Noah", "Fatima", "Liam", "Hana", "Pierre", "Grace", "Mateo", "Priya", "Jonas", "Zoe",
         "Kwame", "Ines", "Tomás", "Min-jun", "Olivia", "Ravi", "Camille", "Ethan", "Leila",
         "Sam"]
LAST = ["Silva", "Johnson", "Khan", "Wei", "Martin", "Rossi", "Haddad", "Brown", "Lopez",
        "Kim", "Dubois", "Nguyen", "Okafor", "Garcia", "Patel", "Moreau", "Schmidt", "Park",
        "Cohen", "Walsh"]

COMPLAINTS = [
    "@acmeair flight {flight} to {city} cancelled AGAIN with zero notice. Stuck at the gate "
    "with two kids. What now?",
    "@acmeair delayed {hours} hours on {flight} and nobody at the desk can tell us anything",
    "Lost luggage on {flight} from {city}. Day {days} and still no bag, no call back. "
    "@acmeair this is ridiculous",
    "@AcmeAir I've been waiting {weeks} weeks for my refund for a cancelled flight. "
    "Booking ref {ref}",
    "The gate agent at {city} for {flight} was incredibly rude to my elderly mother. "
    "@acmeair do better",
    "On hold with Acme Air for {hours} hours now. {hours} HOURS. @acmeair",
    "@acmeair your app is broken, can't check in, keeps crashing at the payment screen",
    "@acmeair I was charged twice for the same booking {ref}!! Please fix this",
    "Acme Air lost my wheelchair on {flight}. Absolutely unacceptable.",
    "@acmeair worst airline ever. {flight} delayed, then cancelled, no hotel, no food voucher",
    "Missed my connection in {city} because of @acmeair. Rebooked on a flight 2 days later?!",
    "@acmeair seat I paid extra for was given away on {flight}. Want my money back.",
]
QUESTIONS = [
    "@acmeair can I change my flight {flight} to tomorrow without a fee?",
    "@acmeair what's the baggage allowance on international economy?",
    "Does Acme Air allow pets in the cabin? @acmeair",
    "@acmeair is {flight} to {city} on time today?",
    "@acmeair how do I add my frequent flyer number to an existing booking?",
    "@acmeair can I bring a stroller to the gate?",
    "@acmeair when does online check-in open for {flight}?",
]
PRAISE = [
    "Shoutout to the crew on @acmeair {flight} — amazing service, they even remembered my "
    "birthday 🎂",
    "Smoothest flight to {city} ever. Thanks @acmeair!",
    "@acmeair the agent who rebooked me in {city} was a legend. Thank you!!",
    "Landed early in {city}, bags first off. Well done Acme Air ✈️",
]
NEUTRAL = [
    "Flying @acmeair to {city} tomorrow, any tips for the lounge?",
    "Acme Air has a new livery? Saw it at {city} airport",
    "Booked {city} on acme air for the summer. Let's see how it goes",
    "Anyone know if @acmeair serves vegetarian meals on short flights?",
]
RISK = [
    "@acmeair there was smoke in the cabin on {flight} and the crew just ignored it. "
    "Is this safe??",
    "I'll be contacting my lawyer about how @acmeair treated us on {flight}.",
    "@acmeair got an email saying my card details leaked. Data breach? Nobody is answering",
    "Engine made a horrible noise on takeoff {flight}, pilot said nothing. @acmeair safety?",
    "@acmeair I'm cancelling my frequent flyer account and switching airlines. Done.",
]
FOREIGN = [
    ("es", "@acmeair mi vuelo {flight} a {city} fue cancelado y nadie responde. ¿Reembolso?"),
    ("es", "@acmeair perdieron mi maleta en {city}, llevo {days} días esperando"),
    ("fr", "@acmeair vol {flight} annulé sans explication, c'est inadmissible"),
    ("fr", "@acmeair merci pour l'excellent service sur le vol vers {city} !"),
    ("ko", "@acmeair 항공편이 취소되었어요 환불은 언제 되나요?"),
    ("ko", "@acmeair {flight} 수하물이 아직 안 왔어요. 도와주세요"),
    ("pt", "@acmeair meu voo atrasou {hours} horas, que falta de respeito"),
]
HOSTILE = [
    "@acmeair <img src=x onerror=alert(1)> my flight was delayed",
    "@acmeair refund please [click](javascript:alert(1))",
    '=HYPERLINK("http://evil","x") @acmeair lost my bag',
    "+SUM(1) @acmeair why is {flight} late",
    "@cmd @acmeair -2+3 delayed again",
    "@acmeair \u202eyad deyaled\u202c הטיסה שלי התעכבה",
    "@acmeair رحلتي تأخرت ثلاث ساعات \u202eoops",
    "@acmeair 👩\u200d👩\u200d👧\u200d👦 family of four stranded in {city} 😡🏳️\u200d🌈",
    "@acme\u200bair zero\u200bwidth refund\u200d please \ufeff",
    "@acmeair <script>document.location='http://evil'</script>",
    "@acmeair '; DROP TABLE mentions; -- flight delayed",
]
FOLLOW_UPS = [
    "@acmeair DM sent. Still waiting though.",
    "@acmeair thanks for answering, but that doesn't solve anything",
    "@acmeair ok, sent you the booking ref. Please hurry",
    "@acmeair that's it? A link to the FAQ?",
    "@acmeair thank you, that worked!",
]
BRAND_REPLIES = [
    "We're sorry to hear this. Please send us a DM with your booking reference and we'll "
    "look into it right away.",
    "Thanks for reaching out! Our team is checking this now — could you DM us your booking "
    "details?",
    "We apologise for the disruption. You can request a refund at acme-air.example/refunds, "
    "or DM us and we'll help.",
]
BRAND_POSTS = [
    "Summer sale! Fares to {city} from $99. Book by Sunday. ✈️",
    "Meet our new A321neo: more legroom, free Wi-Fi on every seat.",
    "Travel update: weather in {city} may affect departures today. Check your flight status "
    "in the app.",
    "We're hiring cabin crew in {city}! Apply at acme-air.example/careers",
    "Thank you for flying with us this holiday season 💙",
]
FB_EXTRA = [
    "I have been a loyal customer for 12 years and this is how I get treated? ",
    "Let me explain exactly what happened, step by step. ",
]


@dataclass
class Persona:
    """One customer, recognisable across platforms (same handle on X, name on FB/IG)."""

    name: str
    handle: str
    followers: int
    lang: str
    dms_open: bool
    x_id: str | None = None
    fb_id: str | None = None
    ig_id: str | None = None


class Generator:
    """Adds generated items to a ``World``; deterministic for a seed."""

    def __init__(self, world: World, seed: int = 7) -> None:
        self.world = world
        # Personas come from a fixed seed so the same customers come back across seed,
        # generate and live calls (repeat contacts); the content follows ``seed``.
        self.rng = random.Random(7)
        self.personas = [self._persona(i) for i in range(60)]
        self.rng = random.Random(seed)
        self.private = PrivateTraffic(world, random.Random(seed * 1_000_003 + 17))
        self.created = {"x": 0, "facebook": 0, "instagram": 0, "brand": 0, "private": 0}

    # ---------------------------------------------------------------- helpers
    def _persona(self, i: int) -> Persona:
        rng = self.rng
        first, last = rng.choice(FIRST), rng.choice(LAST)
        handle = f"{first.lower().replace('-', '').replace('á', 'a')}{last.lower()}{i}"
        roll = rng.random()
        if roll < 0.08:
            followers = rng.randint(100_000, 2_500_000)  # high reach
        elif roll < 0.3:
            followers = rng.randint(2_000, 60_000)
        else:
            followers = rng.randint(3, 1_500)
        return Persona(name=f"{first} {last}", handle=handle[:15], followers=followers,
                       lang="en", dms_open=rng.random() > 0.15)

    def _fill(self, template: str) -> str:
        return fill(template, self.rng)

    def _x_author(self, p: Persona) -> dict[str, Any]:
        return {"id": p.x_id, "username": p.handle, "name": p.name, "followers": p.followers,
                "dms_open": p.dms_open}

    def _customer_text(self) -> tuple[str, str, str]:
        """(category, lang, text) drawn with a realistic mix."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.36:
            return "complaint", "en", self._fill(rng.choice(COMPLAINTS))
        if roll < 0.55:
            return "question", "en", self._fill(rng.choice(QUESTIONS))
        if roll < 0.66:
            return "praise", "en", self._fill(rng.choice(PRAISE))
        if roll < 0.75:
            return "neutral", "en", self._fill(rng.choice(NEUTRAL))
        if roll < 0.81:
            return "risk", "en", self._fill(rng.choice(RISK))
        if roll < 0.90:
            lang, text = rng.choice(FOREIGN)
            return "foreign", lang, self._fill(text)
        if roll < 0.97:
            return "hostile", "en", self._fill(rng.choice(HOSTILE))
        return "long", "en", self._long_x()

    def _long_x(self) -> str:
        base = self._fill(self.rng.choice(COMPLAINTS))
        filler = " And another thing: nobody answers the phone, the website times out,"
        while len(base) + len(filler) <= 276:
            base += filler
            filler = " still waiting, still nothing,"
        return base[:279]

    def _long_fb(self, text: str) -> str:
        out = self.rng.choice(FB_EXTRA) + text.replace("@acmeair", "Acme Air")
        while len(out) < 1900:
            out += " " + self._fill(self.rng.choice(COMPLAINTS)).replace("@acmeair", "")
        return out[:2000]

    @staticmethod
    def _strip_handle(text: str) -> str:
        """Facebook/Instagram comments name the brand in words, not with the X handle."""
        for lead in ("@acmeair ", "@AcmeAir "):
            if text.startswith(lead):
                text = text[len(lead):]
        return text.replace(" @acmeair", " Acme Air").replace(" @AcmeAir", " Acme Air")

    # ------------------------------------------------------------ platforms
    def _brand_context(self, t: float) -> None:
        w = self.world
        for i, tmpl in enumerate(BRAND_POSTS[:3]):
            w.add_fb_post(self._fill(tmpl), "page", created_at=t + i * 600)
            w.add_ig_media(self._fill(tmpl), author="brand", created_at=t + i * 600 + 60)
            w.add_tweet(self._fill(tmpl), w.x_users[BRAND_X_ID], created_at=t + i * 600 + 120)
            self.created["brand"] += 3

    def _x_item(self, p: Persona, t: float, thread: bool) -> int:
        w = self.world
        cat, lang, text = self._customer_text()
        rng = self.rng
        brand_tweets = [tw for tw in w.tweets.values()
                        if tw.author_id == BRAND_X_ID and tw.in_reply_to_tweet_id is None
                        and tw.created_at < t]
        parent = None
        if brand_tweets and rng.random() < 0.2:
            parent = rng.choice(brand_tweets).id
            if not text.startswith("@acmeair"):
                text = ("@acmeair " + self._strip_handle(text))[:280]
        tweet = w.add_tweet(text, self._x_author(p), in_reply_to=parent, created_at=t, lang=lang,
                            likes=rng.randint(0, 40))
        p.x_id = tweet.author_id
        made = 1
        if rng.random() < 0.05:  # someone retweets it: noise, never a mention
            other = rng.choice(self.personas)
            rt = w.add_tweet("", self._x_author(other), retweet_of=tweet.id, created_at=t + 30)
            other.x_id = rt.author_id
        if thread and cat in ("complaint", "question", "risk", "foreign"):
            reply = w.add_tweet(f"@{p.handle} " + rng.choice(BRAND_REPLIES)[:250],
                                w.x_users[BRAND_X_ID], in_reply_to=tweet.id,
                                created_at=t + rng.randint(300, 1800))
            w.add_tweet(rng.choice(FOLLOW_UPS), self._x_author(p), in_reply_to=reply.id,
                        created_at=reply.created_at + rng.randint(120, 900))
            made += 1
        self.created["x"] += made
        return made

    def _fb_item(self, p: Persona, t: float, thread: bool) -> int:
        w = self.world
        rng = self.rng
        _, _, text = self._customer_text()
        text = self._strip_handle(text)
        author = {"id": p.fb_id, "name": p.name}
        page_posts = [po for po in w.fb_posts.values() if po.by_page and po.created < t]
        if rng.random() < 0.08:
            text = self._long_fb(text)
        if not page_posts or rng.random() < 0.25:
            post = w.add_fb_post(text, author, created_at=t)
            p.fb_id = post.from_id
            self.created["facebook"] += 1
            return 1
        comment = w.add_fb_comment(text, post_id=rng.choice(page_posts).id, author=author,
                                   created_at=t, likes=rng.randint(0, 25))
        p.fb_id = comment.from_id
        if thread:
            self._brand_answers(w.add_fb_comment, comment, t, brand="page", customer=author)
        made = 2 if thread else 1
        self.created["facebook"] += made
        return made

    def _ig_item(self, p: Persona, t: float, thread: bool) -> int:
        w = self.world
        rng = self.rng
        _, _, text = self._customer_text()
        author = {"id": p.ig_id, "username": p.handle}
        media = [m for m in w.ig_media.values() if not m.tagged and m.created < t]
        if not media or rng.random() < 0.1:
            tagged = w.add_ig_media(text if "@acmeair" in text else text + " @acmeair",
                                    author=author, created_at=t)
            p.ig_id = tagged.owner_id
            self.created["instagram"] += 1
            return 1
        comment = w.add_ig_comment(self._strip_handle(text), media_id=rng.choice(media).id,
                                   author=author, created_at=t, likes=rng.randint(0, 30))
        p.ig_id = comment.from_id
        if thread:
            self._brand_answers(w.add_ig_comment, comment, t, brand="brand", customer=author,
                                to_brand="@acmeair ", to_customer=f"@{p.handle} ")
        made = 2 if thread else 1
        self.created["instagram"] += made
        return made

    def _brand_answers(self, add_comment: Callable[..., GraphComment], comment: GraphComment,
                       t: float, *, brand: str, customer: dict[str, Any], to_brand: str = "",
                       to_customer: str = "") -> None:
        """The brand answers a comment within half an hour and the customer follows up, both
        in the comment's thread (`to_…`: how each addresses the other, where handles exist)."""
        rng = self.rng
        reply = add_comment(to_customer + rng.choice(BRAND_REPLIES), parent_id=comment.id,
                            author=brand, created_at=t + rng.randint(300, 1800))
        add_comment(to_brand + self._strip_handle(rng.choice(FOLLOW_UPS)),
                    parent_id=comment.id, author=customer,
                    created_at=reply.created + rng.randint(60, 900))

    def _private_item(self, t: float, history: bool) -> None:
        """A customer starts a private conversation (X DM, Messenger or Instagram Direct)."""
        rng = self.private.rng
        p = self.personas[int(rng.triangular(0, len(self.personas), 0))]
        channel = rng.choice(CHANNELS)
        customer = {"x": self._x_author(p), "messenger": {"id": p.fb_id, "name": p.name},
                    "instagram": {"id": p.ig_id, "username": p.handle}}[channel]
        customer_id = self.private.open(channel, customer, t,
                                        history=history and rng.random() < 0.4)
        setattr(p, {"x": "x_id", "messenger": "fb_id", "instagram": "ig_id"}[channel],
                customer_id)
        self.created["private"] += 1

    def _one(self, t: float, allow_threads: bool) -> int:
        rng = self.rng
        # Repeat customers: a few personas write much more often than the rest.
        p = self.personas[int(rng.triangular(0, len(self.personas), 0))]
        thread = allow_threads and rng.random() < 0.2
        roll = rng.random()
        if roll < 0.5:
            return self._x_item(p, t, thread)
        if roll < 0.8:
            return self._fb_item(p, t, thread)
        return self._ig_item(p, t, thread)

    # ------------------------------------------------------------------ API
    def seed(self, count: int, days: float = 3.0) -> dict[str, int]:
        """Brand context first, then ``count`` customer items spread over ``days``."""
        with self.world.lock:
            now = self.world.now()
            start = now - days * 86400
            self._brand_context(start)
            span = max(1.0, days * 86400 - 3600 - 2700)  # threads end before now
            times = sorted(start + 3600 + self.rng.random() * span for _ in range(count))
            made = 0
            for t in times:
                if made >= count:
                    break
                made += self._one(t, allow_threads=True)
            # Private conversations come after, from their own generator, so the public
            # traffic of a seed stays the same.
            for _ in range(max(1, count // 12)):
                self._private_item(start + 3600 + self.private.rng.random() * span,
                                   history=True)
            return dict(self.created)

    def generate(self, count: int = 1) -> dict[str, int]:
        """``count`` new customer items, timestamped a few seconds apart up to now."""
        with self.world.lock:
            now = self.world.now()
            if not self.world.fb_posts and not self.world.ig_media:
                self._brand_context(now - 86400)
            made = 0
            i = 0
            while made < count:
                t = now - (count - i) * 0.5
                made += self._one(t, allow_threads=False)
                if self.private.rng.random() < PRIVATE_SHARE:
                    self._private_item(t, history=False)
                i += 1
            return dict(self.created)


#: The brand's private writes a customer answers.
ANSWERED_KINDS = ("private_reply", "message", "x_dm")
DEFAULT_ANSWER_AFTER = 8.0
TICK_SECONDS = 0.1


class LiveFeed:
    """Keeps adding generated items to a world in a daemon thread: the demo's trickle of
    mentions, and customers' answers to the private messages the brand sends through the API
    (each customer answers once, ``answer_after`` seconds later, give or take half).  One per
    served world, so starting it again replaces the running trickle."""

    def __init__(self, world: World) -> None:
        self.world = world
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._answers: list[tuple[float, dict[str, Any]]] = []  # (due, sent entry)
        self._answer_after = DEFAULT_ANSWER_AFTER
        self._jitter = random.Random(0)
        world.observers.append(self)

    def start(self, rate_per_minute: float,
              answer_after: float = DEFAULT_ANSWER_AFTER) -> None:
        """``rate_per_minute`` new items a minute from now on; 0 stops the trickle."""
        self.stop()
        if rate_per_minute <= 0:
            return
        interval = 60.0 / float(rate_per_minute)
        tick = min(TICK_SECONDS, interval)
        gen = Generator(self.world, seed=int(time.time()))
        self._answer_after = float(answer_after)
        self._stop = stop = threading.Event()

        def loop() -> None:
            next_item = time.monotonic() + interval
            while not stop.wait(tick):
                try:
                    now = time.monotonic()
                    if now >= next_item:
                        gen.generate(1)
                        next_item = max(next_item + interval, now)
                    for sent in self._due(now):
                        gen.private.answer(sent)
                except Exception as exc:  # keep the demo alive; report and carry on
                    log.warning("live generator: %s", exc)

        self._thread = threading.Thread(target=loop, name="sandbox-live", daemon=True)
        self._thread.start()
        self.world.live = True

    def stop(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        self._thread = None
        self.world.live = False
        self.reset()

    # ------------------------------------------------------------ observer
    def notice(self, event: str, record: Any) -> None:
        """Schedule the customer's answer to a private message the brand just sent (one
        answer per conversation at a time), while the feed runs."""
        if event != "sent" or record.get("kind") not in ANSWERED_KINDS or not self.world.live:
            return
        with self._lock:
            key = _conversation_of(record)
            if any(_conversation_of(s) == key for _, s in self._answers):
                return
            delay = self._answer_after * (0.5 + self._jitter.random())
            self._answers.append((time.monotonic() + delay, record))

    def reset(self) -> None:
        with self._lock:
            self._answers.clear()

    def _due(self, now: float) -> list[dict[str, Any]]:
        with self._lock:
            due = [s for t, s in self._answers if t <= now]
            self._answers = [(t, s) for t, s in self._answers if t > now]
            return due


def _conversation_of(sent: dict[str, Any]) -> str:
    return str(sent.get("conversation_id") or sent.get("dm_conversation_id"))


__all__ = ["FB_PAGE_ID", "Generator", "LiveFeed", "Persona"]
