"""A broad proxy of ordinary tweets, generated deterministically, for the general-text check.

Why: the issue measured carewatch at Pearson r 0.819 against human ratings of 4,200 general
tweets, where plain VADER reaches 0.872, while the 314-sentence proxy in `sentiment_eval.py`
said 0.996. Those sentences were too tidy: no sport or weather talk that happens to say
"waiting", "late", "tickets", "cancelled" or "hours", few emoji, little slang. This module
writes several thousand everyday posts about sport, films, weather, politics, food, music,
tech, pets, work and family, with emoji, slang, negation, ALL CAPS, repeated punctuation,
hashtags, numbers, links and @friends, from templates and word lists written here (no
dataset is copied). There are no human ratings, so the reference is VADER's compound: a
scorer that leaves ordinary text alone scores r = 1.0, and every point below it is the care
layer bending text it should not touch.

    .venv/bin/python benchmarks/_general_proxy.py [--n 5000] [--show 20]
"""

from __future__ import annotations

import argparse
import random

# Topic -> (things people talk about, neutral context phrases). Some deliberately use words
# a care layer could mistake for service talk ("tickets", "waiting", "order", "app").
TOPICS: dict[str, tuple[list[str], list[str]]] = {
    "sport": (["the match", "the game", "that final", "the derby", "our defence", "the ref",
               "the second half", "this season", "the new signing", "the penalty shootout",
               "the race", "the fight", "the grand prix", "the world cup draw", "our striker"],
              ["rain delay again", "waiting for kick off", "3-1 at half time",
               "extra time incoming", "got tickets for saturday", "watching from the pub",
               "on the bench for 90 minutes", "two hours of highlights"]),
    "film": (["the movie", "that trailer", "the sequel", "the ending", "the soundtrack",
              "the new series", "season 3", "the finale", "the director's cut", "the cast",
              "the plot twist", "that documentary", "the remake"],
             ["watched it twice", "binge watching all weekend", "cinema tonight",
              "three hours long", "still thinking about it", "popcorn ready",
              "waited all year for this", "streaming it now"]),
    "weather": (["the weather", "this heatwave", "the rain", "the snow", "this wind",
                 "the sunset", "the storm", "this fog", "the forecast", "spring", "the frost"],
                ["25 degrees today", "umbrella again", "stuck inside all day",
                 "sun's finally out", "school cancelled for snow", "power flickered twice",
                 "hours of thunder", "late frost this year"]),
    "politics": (["the debate", "the election", "that speech", "the new policy",
                  "the budget", "the council vote", "the campaign", "the senator",
                  "the referendum", "the minister's interview", "the polls"],
                 ["results tonight", "turnout was high", "queue at the polling station",
                  "waiting for the count", "live on every channel", "week 2 of the campaign",
                  "another press conference", "the vote was delayed"]),
    "food": (["this pizza", "the new cafe", "mum's lasagna", "that burger", "the curry",
              "my coffee", "brunch", "this ramen", "the bakery", "homemade bread",
              "the tacos", "dessert", "the farmers market"],
             ["ordered takeaway again", "cooked for 6 people", "queue out the door",
              "second helping", "tried a new recipe", "waiting for my food",
              "table for two", "three hours in the oven"]),
    "music": (["the concert", "the new album", "this song", "the festival", "the gig",
               "her voice", "the encore", "the playlist", "the band", "the drop",
               "the opening act", "this remix"],
              ["front row", "on repeat all day", "tickets sold out in minutes",
               "waited 2 hours to get in", "crowd was huge", "dancing all night",
               "stuck in my head", "the set ran late"]),
    "tech": (["my new laptop", "the update", "this game", "the new phone", "my headphones",
              "the beta", "this keyboard", "the new console", "my smartwatch", "the app",
              "this camera", "the VR headset"],
             ["battery lasts all day", "downloading overnight", "finally got it working",
              "unboxing tonight", "playing for hours", "installed the update",
              "saved up for months", "still learning the shortcuts"]),
    "pets": (["my dog", "the puppy", "our cat", "the kitten", "my hamster", "the new rescue",
              "her parrot", "the goldfish", "my horse"],
             ["walk in the park", "vet visit today", "asleep on my keyboard",
              "stole my sandwich", "first bath", "waiting by the door",
              "chasing its tail", "new toy"]),
    "everyday": (["my day", "this week", "Monday", "the weekend", "my commute", "the gym",
                  "my exam", "the interview", "this class", "my birthday", "the party",
                  "our holiday", "the wedding", "my new job", "the road trip"],
                 ["long day", "back home now", "coffee number 3", "train was late again",
                  "finally friday", "stayed up till 2am", "up since 6", "waiting for results",
                  "called my mum", "hours of homework"]),
}

POSITIVE = ["amazing", "great", "awesome", "brilliant", "fantastic", "lovely", "beautiful",
            "incredible", "perfect", "fun", "hilarious", "gorgeous", "excellent", "wonderful",
            "cool", "nice", "good", "sweet", "epic", "stunning", "delicious", "impressive",
            "adorable", "fire", "unreal", "class", "solid", "legendary", "underrated"]
NEGATIVE = ["awful", "terrible", "horrible", "boring", "bad", "disappointing", "painful",
            "annoying", "ugly", "depressing", "dreadful", "rubbish", "trash", "mid",
            "overrated", "sad", "tragic", "miserable", "useless", "pathetic", "gross",
            "a mess", "a disaster", "the worst", "exhausting", "cringe", "scary"]
NEUTRAL = ["on", "happening", "different", "long", "loud", "new", "back", "over", "early",
           "next week", "at 8", "in town", "sold out", "on tv", "live now", "quiet"]
BOOST = ["so", "really", "super", "totally", "absolutely", "kinda", "pretty", "way too",
         "extremely", "lowkey", "honestly", "literally", "", "", "", ""]
SLANG = ["lol", "lmao", "omg", "tbh", "ngl", "smh", "fr", "imo", "haha", "ugh", "yay",
         "wow", "meh", "idk", "rn", "af", "bruh", "sigh", "yikes", "woohoo"]
EMOJI_POS = ["😍", "😂", "🔥", "👍", "❤️", "🥳", "😎", "🙌", "💯", "😊", ":)", ":D", "<3"]
EMOJI_NEG = ["😭", "😡", "🙄", "😩", "💔", "😤", "👎", "😬", ":(", ":/"]
EMOJI_NEU = ["🤔", "👀", "⚽", "🎬", "☔", "🍕", "🎶", "📱", "🐶", "☕"]
FRIENDS = ["@jess_k", "@mike88", "@sarahlovesdogs", "@tommy", "@anna_b", "@djkhan", "@mum",
           "@bestie", "@chris_p", "@lily2000", "@dan_the_man", "@priya", "@ollie_w"]
TAGS = ["#tgif", "#matchday", "#mood", "#blessed", "#nofilter", "#weekendvibes", "#foodie",
        "#movienight", "#election", "#rainyday", "#tech", "#music", "#dogsofinstagram"]

TEMPLATES = [
    "{Thing} was {boost} {opinion}{punct}",
    "{Thing} is {boost} {opinion} {slang}",
    "{ctx}, {thing} was {boost} {opinion}{punct}",
    "{thing} {neg_was} {opinion}{punct}",
    "honestly {thing} {neg_was} that {opinion}",
    "{Thing}?? {boost} {opinion} {emoji}",
    "{ctx} {emoji}",
    "{ctx}. {Thing} is {neutral}",
    "{slang} {thing} was {opinion} but {thing2} was {opinion2}",
    "not gonna lie, {thing} was {boost} {opinion}",
    "can't believe how {opinion} {thing} was{punct}",
    "{Thing} was {OPINION}{punct}",
    "{ctx} and {thing} is {boost} {opinion} {emoji}",
    "why is {thing} so {opinion} {slang}",
    "{thing} never disappoints {emoji}",
    "{thing} could have been better tbh",
    "I love {thing} {emoji}",
    "I hate {thing} {slang}",
    "{Thing} is {neutral}, {ctx}",
    "{ctx}... {thing} {neg_is} {opinion} {emoji}",
    "{Thing} was not bad at all",
    "{Thing} wasn't great, wasn't terrible either",
    "who else thinks {thing} is {opinion}?",
    "{ctx} {tag}",
    "so {thing} was {opinion} and {thing2} was {opinion2} {emoji}",
    "{Thing} {neg_is} {boost} {opinion} at all",
    "{thing}: {opinion}. {ctx}. {slang}",
    "{ctx}!! {thing} tonight {emoji}{emoji2}",
]


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def generate(n: int = 5000, seed: int = 2026) -> list[tuple[str, str]]:
    """`n` (topic, text) pairs, the same for the same `n` and `seed`."""
    rng = random.Random(seed)
    topics = sorted(TOPICS)
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    while len(out) < n:
        topic = rng.choice(topics)
        things, contexts = TOPICS[topic]
        mood = rng.random()
        pool = POSITIVE if mood < 0.45 else NEGATIVE if mood < 0.85 else NEUTRAL
        emoji_pool = EMOJI_POS if pool is POSITIVE else EMOJI_NEG if pool is NEGATIVE \
            else EMOJI_NEU
        other = rng.choice([POSITIVE, NEGATIVE])
        thing, thing2 = rng.sample(things, 2)
        opinion = rng.choice(pool)
        text = rng.choice(TEMPLATES).format(
            thing=thing, Thing=_cap(thing), thing2=thing2, ctx=rng.choice(contexts),
            boost=rng.choice(BOOST), opinion=opinion, OPINION=opinion.upper(),
            opinion2=rng.choice(other), neutral=rng.choice(NEUTRAL),
            slang=rng.choice(SLANG), emoji=rng.choice(emoji_pool),
            emoji2=rng.choice([*emoji_pool, ""]), tag=rng.choice(TAGS),
            punct=rng.choice(["", "", ".", "!", "!!", "!!!", "?!", "...", " :)"]),
            neg_was=rng.choice(["was", "was", "wasn't", "was not", "was never"]),
            neg_is=rng.choice(["is", "isn't", "is not", "is never"]),
        )
        text = " ".join(text.split())
        r = rng.random()
        if r < 0.25:  # a friend tagged at the start or the end, as replies and shout-outs do
            friend = rng.choice(FRIENDS)
            text = f"{friend} {text}" if rng.random() < 0.6 else f"{text} {friend}"
        elif r < 0.32:
            text = f"{text} https://t.co/{rng.randrange(16**8):08x}"
        if rng.random() < 0.08:
            text = text.upper()
        if rng.random() < 0.1:
            text = f"{text} {rng.choice(TAGS)}"
        if text not in seen:
            seen.add(text)
            out.append((topic, text))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--show", type=int, default=20)
    args = ap.parse_args()
    for topic, text in generate(args.n)[: args.show]:
        print(f"{topic:9} {text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
