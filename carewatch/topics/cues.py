"""Complaint cues: what keeps a positive item eligible for a (complaint) topic.

Praise such as "thanks for getting my bag back so fast!" mentions a bag, and a model that
only looks at topic words files it under "Lost Luggage". An item that reads as positive
gets a topic only when it also carries one of these cues: a negation, a contrast, a problem
word or a question. The words are generic care vocabulary, not any one brand's.
"""

from __future__ import annotations

import re

_CUES = (
    r"not|no|never|nothing|nobody|cannot|can't|cant|won't|wont|didn't|didnt|don't|dont|"
    r"doesn't|doesnt|isn't|isnt|wasn't|wasnt|haven't|havent|hasn't|hasnt|couldn't|couldnt|"
    r"but|however|although|still|yet|again|"
    r"delay\w*|late|cancel\w*|lost|missing|damaged|broken|stuck|stranded|wait\w*|"
    r"refund\w*|complain\w*|problem\w*|issue\w*|worst|terrible|awful|horrible|rude|"
    r"disappoint\w*|frustrat\w*|angry|fail\w*|error|help|hold|ridiculous|unacceptable"
)
_CUE = re.compile(rf"(?<![\w'])(?:{_CUES})(?![\w'])|\?", re.IGNORECASE)


def has_complaint_cue(text: str) -> bool:
    """Whether the text carries a negation, contrast, problem word or a question."""
    return _CUE.search(text or "") is not None
