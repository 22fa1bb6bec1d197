//! Content filtering: hate, harassment, self-harm, sexual content and violence.
//!
//! Two sources of scores, one shape ([`ContentScores`]):
//! - [`ContentClassifier`], a local classifier of weighted phrase patterns per category. It
//!   looks for harm aimed at someone (a threat needs a first person, a violent verb and a
//!   person as its object; an insult needs a "you"), so the violent idioms of sales talk —
//!   "kill the deal", "this pricing is killing us", "shoot me an email", "execute the
//!   contract", "hit the target" — never match. Negation ("I would never…"), reported speech
//!   (`the customer wrote "…"`) and known business idioms damp a match rather than drop it.
//! - An OpenAI-compatible moderation endpoint, which the runtime calls: build the body with
//!   [`moderation_request`], read the answer with [`parse_moderation_response`].
//!
//! Scores are in `[0, 1]`; [`DEFAULT_THRESHOLD`] is where a category counts as present.

use std::collections::BTreeMap;
use std::fmt;

use regex::{Regex, RegexSet};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::finding::Severity;
use crate::rules::literal_regex;

/// Score at or above which a category counts as present.
pub const DEFAULT_THRESHOLD: f32 = 0.5;
/// A damped match weaker than this is not reported as a finding (it still adds to the score).
const FINDING_FLOOR: f32 = 0.3;
/// Only explicit sexual content (acts, solicitation) next to a mention of a minor is escalated
/// to critical; a bare term near "child" ("child accounts", "porn filter") is not.
const MINOR_ESCALATION: f32 = 0.85;

/// A kind of harmful content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContentCategory {
    Hate,
    Harassment,
    SelfHarm,
    Sexual,
    Violence,
}

impl ContentCategory {
    pub const ALL: [ContentCategory; 5] = [
        ContentCategory::Hate,
        ContentCategory::Harassment,
        ContentCategory::SelfHarm,
        ContentCategory::Sexual,
        ContentCategory::Violence,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            ContentCategory::Hate => "hate",
            ContentCategory::Harassment => "harassment",
            ContentCategory::SelfHarm => "self_harm",
            ContentCategory::Sexual => "sexual",
            ContentCategory::Violence => "violence",
        }
    }
}

impl fmt::Display for ContentCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One piece of harmful content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentFinding {
    pub category: ContentCategory,
    pub severity: Severity,
    /// Byte offsets of the span for the local classifier; `None` for a verdict on the whole
    /// text (a moderation endpoint gives no spans).
    pub start: Option<usize>,
    pub end: Option<usize>,
}

/// Scores per category (every category present, `0.0` when nothing was found) and the
/// findings behind them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentScores {
    pub scores: BTreeMap<ContentCategory, f32>,
    pub findings: Vec<ContentFinding>,
}

impl Default for ContentScores {
    fn default() -> Self {
        ContentScores {
            scores: ContentCategory::ALL.into_iter().map(|c| (c, 0.0)).collect(),
            findings: Vec::new(),
        }
    }
}

impl ContentScores {
    pub fn score(&self, category: ContentCategory) -> f32 {
        self.scores.get(&category).copied().unwrap_or(0.0)
    }

    /// The highest-scoring category and its score (the first in [`ContentCategory::ALL`]
    /// order on a tie).
    pub fn max(&self) -> Option<(ContentCategory, f32)> {
        self.scores.iter().fold(
            None,
            |best: Option<(ContentCategory, f32)>, (&c, &s)| match best {
                Some((_, top)) if top >= s => best,
                _ => Some((c, s)),
            },
        )
    }

    /// The worst severity among the findings of `category`, if any.
    pub fn severity_of(&self, category: ContentCategory) -> Option<Severity> {
        self.findings
            .iter()
            .filter(|f| f.category == category)
            .map(|f| f.severity)
            .max()
    }

    /// The categories scoring at or above `threshold`.
    pub fn flagged(&self, threshold: f32) -> impl Iterator<Item = ContentCategory> + '_ {
        self.scores
            .iter()
            .filter(move |&(_, &s)| s >= threshold)
            .map(|(&c, _)| c)
    }

    pub fn is_clean(&self, threshold: f32) -> bool {
        self.flagged(threshold).next().is_none()
    }

    /// Combines two opinions on the same text (the local classifier and an endpoint): the
    /// higher score per category, all findings.
    pub fn merge(&mut self, other: ContentScores) {
        for (category, score) in other.scores {
            let entry = self.scores.entry(category).or_insert(0.0);
            *entry = entry.max(score);
        }
        self.findings.extend(other.findings);
    }
}

/// One phrase pattern of the local classifier.
#[derive(Debug)]
struct Pattern {
    category: ContentCategory,
    /// How sure a match alone makes us, in `(0, 1]`.
    weight: f32,
    severity: Severity,
    /// Whether a negation just before the match damps it. Patterns that contain their own
    /// negation ("don't want to live anymore") are not.
    negatable: bool,
    regex: Regex,
}

/// A local, allocation-light classifier, compiled once. Send + Sync: share it.
#[derive(Debug)]
pub struct ContentClassifier {
    patterns: Vec<Pattern>,
    /// One pass to learn which patterns match at all; clean text stops there.
    prefilter: Option<RegexSet>,
    /// Business idioms that contain violent-sounding words.
    benign: Regex,
    negation: Regex,
    reporting: Regex,
    minor: Regex,
}

impl Default for ContentClassifier {
    fn default() -> Self {
        ContentClassifier::new()
    }
}

// Pattern fragments. `\b` is rewritten to an ASCII word boundary when compiled, which keeps
// the patterns on the fast DFA engines.
const FIRST_PERSON_WILL: &str = r"(?:i\s*(?:will|'ll|ll|shall|am\s+going\s+to|'m\s+going\s+to|m\s+going\s+to|am\s+gonna|'m\s+gonna|m\s+gonna|gonna|want\s+to|wanna|'d\s+like\s+to|could|swear\s+i'?ll)|we\s*(?:will|'ll|are\s+going\s+to|'re\s+going\s+to|'re\s+gonna|are\s+gonna))";
const INTENSIFIER: &str = r"(?:(?:really|definitely|fucking|just|literally|personally|actually|seriously|gladly|happily|totally|come\s+and|find\s+and)\s+)?";
const VICTIM: &str = r"(?:you|u|ya|y'?all|him|her|them|your\s+(?:whole\s+)?(?:family|kids?|wife|husband|children|son|daughter|mother|mom|dad|father|boss|team)|his\s+family|her\s+family|everyone\s+(?:here|there|in\s+(?:the|this|that)\s+\w+))";
const GROUP: &str = r"(?:jews|jewish\s+people|muslims|christians|catholics|hindus|sikhs|blacks|black\s+people|whites|white\s+people|asians|arabs|mexicans|latinos|latinas|hispanics|immigrants|migrants|refugees|gays|gay\s+people|lesbians|homosexuals|trans\s+people|transgender\s+people|women|indians|chinese\s+people|africans|gypsies|roma|disabled\s+people|the\s+disabled|foreigners)";
const SEXUAL_BODY: &str =
    r"(?:dick|cock|pussy|tits|titties|boobs|breasts|balls|clit|penis|vagina|nipples|ass)";

impl ContentClassifier {
    pub fn new() -> Self {
        use ContentCategory::{Harassment, Hate, SelfHarm, Sexual, Violence};
        use Severity::{Critical, High, Low, Medium};

        let spec: Vec<(ContentCategory, f32, Severity, bool, String)> = vec![
            // Violence: threats against a person.
            (
                Violence,
                0.92,
                High,
                true,
                format!(
                    r"\b{FIRST_PERSON_WILL}\s+{INTENSIFIER}(?:kill|murder|stab|strangle|slaughter|butcher|lynch|torture|behead|rape|hurt|maim|shoot|beat|smash|gut|punch|hit|slap|kick|assault|attack)\s+{VICTIM}\b"
                ),
            ),
            (
                Violence,
                0.92,
                High,
                true,
                format!(
                    r"\b{FIRST_PERSON_WILL}\s+{INTENSIFIER}(?:hang|burn|bury|choke|execute|end|break)\s+(?:you|u|ya)\b(?:\s+(?:alive|up|slowly|in\s+your\s+sleep))?"
                ),
            ),
            (
                Violence,
                0.9,
                High,
                true,
                format!(
                    r"\b{FIRST_PERSON_WILL}\s+{INTENSIFIER}(?:break|snap|slit|cut|smash)\s+(?:your|his|her|their)\s+(?:neck|legs|arms|throat|face|skull|fingers)\b"
                ),
            ),
            (
                Violence,
                0.85,
                High,
                true,
                r"\b(?:you(?:'re|\s+are|r)?\s+(?:a\s+)?dead\s+(?:man|woman|meat)|you(?:'re|\s+are)\s+(?:going\s+to|gonna)\s+die|you\s+will\s+die|you\s+won'?t\s+live\s+to\s+see|sleep\s+with\s+one\s+eye\s+open|watch\s+your\s+back,?\s+(?:bitch|asshole|motherfucker|punk))\b".to_owned(),
            ),
            (
                Violence,
                0.8,
                High,
                true,
                r"\b(?:someone|somebody|they|we)\s+(?:should|ought\s+to|needs?\s+to)\s+(?:kill|shoot|stab|hang|murder|lynch)\s+(?:him|her|them|you|that\s+\w+)\b".to_owned(),
            ),
            (
                Violence,
                0.8,
                High,
                true,
                r"\b(?:he|she|they|you)\s+(?:deserves?|deserve)\s+to\s+(?:die|be\s+(?:killed|shot|raped|hanged|hung))\b".to_owned(),
            ),
            (
                Violence,
                0.95,
                Critical,
                true,
                r"\b(?:shoot|blow|bomb|burn)\s+up\s+(?:the|this|that|our|your|their|a)\s+(?:office|school|building|church|mosque|synagogue|temple|headquarters|hq|store|mall|plant|warehouse|campus)\b".to_owned(),
            ),
            (
                Violence,
                0.85,
                High,
                true,
                r"\bburn\s+(?:down\s+)?(?:the|this|that|your|their|his|her)\s+(?:\w+\s+)?(?:house|home|building|office|school|church|mosque|synagogue|temple|store|car)\s+(?:down\s+)?with\s+(?:them|him|her|you|everyone|people)\s+inside\b|\b(?:i'?ll|i\s+will|i'?m\s+going\s+to|we'?ll|we\s+will)\s+burn\s+(?:down\s+)?(?:your|his|her|their)\s+(?:house|home|car|office|store)\b".to_owned(),
            ),
            (
                Violence,
                0.85,
                High,
                true,
                r"\b(?:plant|build|make|making|building|planting)\s+(?:a|the)\s+(?:pipe\s+)?(?:bomb|ied|explosive\s+device)\b".to_owned(),
            ),
            // Violence: graphic description.
            (
                Violence,
                0.8,
                High,
                false,
                r"\b(?:slit|slitting|slashed|slashing|cut|cutting)\s+(?:his|her|their|your|my|the\s+victim'?s?)\s+throat\b".to_owned(),
            ),
            (
                Violence,
                0.8,
                High,
                false,
                r"\b(?:beat|beaten|beating|stabbed|stabbing|kicked|kicking|bludgeoned|tortured|torturing|burned|burnt|strangled|choked|stoned|hacked)\s+(?:him|her|them|you|me|the\s+\w+)\s+to\s+death\b".to_owned(),
            ),
            (
                Violence,
                0.75,
                High,
                false,
                r"\b(?:decapitat(?:e|ed|es|ing|ion)|dismember(?:ed|ing|ment)?|disembowel(?:ed|led|ing)?|eviscerat(?:e|ed|ing)|beheaded|beheading)\b".to_owned(),
            ),
            (
                Violence,
                0.75,
                High,
                false,
                r"\b(?:brains?|guts|intestines|entrails|blood|gore)\s+(?:were\s+|was\s+)?(?:splattered|spilled|spilling|spurting|gushing|everywhere|hanging\s+out|pooling|sprayed)\b".to_owned(),
            ),
            (
                Violence,
                0.8,
                High,
                false,
                r"\b(?:shot|stabbed)\s+(?:him|her|them|you|me)\s+(?:in|through)\s+the\s+(?:head|face|chest|neck|back|heart|eye|stomach)\b".to_owned(),
            ),
            (
                Violence,
                0.85,
                High,
                false,
                r"\b(?:gouge[ds]?|gouging)\s+(?:out\s+)?(?:his|her|their|your|my)\s+eyes\b|\b(?:skinned|burned|burnt|buried)\s+(?:him|her|them|you)\s+alive\b".to_owned(),
            ),
            (
                Violence,
                0.5,
                Medium,
                false,
                r"\bmass\s+(?:shooting|murder|killing|stabbing)s?\b".to_owned(),
            ),
            // Self-harm: intent.
            (
                SelfHarm,
                0.95,
                High,
                true,
                r"\b(?:i\s+(?:want|wanna|need|am\s+going|'m\s+going|m\s+going|plan|intend|have\s+decided|decided|am\s+ready|'m\s+ready|m\s+ready)\s+to|i\s*'?m\s+gonna|i\s+will|i\s*'?ll|i\s*'?m\s+(?:thinking\s+(?:about|of)|planning\s+(?:to|on)))\s+(?:just\s+)?(?:kill(?:ing)?\s+myself|end(?:ing)?\s+(?:my\s+(?:own\s+)?life|it\s+all)|tak(?:e|ing)\s+my\s+(?:own\s+)?life|commit(?:ting)?\s+suicide|hang(?:ing)?\s+myself|overdos(?:e|ing)|slit(?:ting)?\s+my\s+wrists|cut(?:ting)?\s+myself)\b".to_owned(),
            ),
            // "I want to die" is also office hyperbole: reported, not conclusive alone.
            (
                SelfHarm,
                0.6,
                Medium,
                true,
                r"\bi\s+(?:just\s+|really\s+)?(?:want|wanna|am\s+going|'m\s+going|m\s+going|plan|am\s+ready|'m\s+ready)\s+to\s+die\b".to_owned(),
            ),
            (
                SelfHarm,
                0.6,
                Medium,
                true,
                r"\bkill(?:ing)?\s+myself\b".to_owned(),
            ),
            (
                SelfHarm,
                0.8,
                High,
                true,
                r"\b(?:end|take|ending|taking)\s+my\s+(?:own\s+)?life\b".to_owned(),
            ),
            (SelfHarm, 0.7, High, true, r"\bsuicidal\b".to_owned()),
            (SelfHarm, 0.45, Medium, true, r"\bsuicide\b".to_owned()),
            (
                SelfHarm,
                0.85,
                High,
                false,
                r"\b(?:don'?t|do\s+not|no\s+longer)\s+want\s+to\s+(?:live|be\s+alive|exist|wake\s+up)(?:\s+anymore)?\b|\bi\s+(?:can'?t|cannot)\s+go\s+on\s+(?:living|anymore)\b".to_owned(),
            ),
            (
                SelfHarm,
                0.75,
                High,
                true,
                r"\b(?:i'?d\s+be\s+|i\s+am\s+|i'?m\s+|everyone\s+would\s+be\s+)?better\s+off\s+dead\b|\bno\s+(?:reason|point)\s+(?:to|in)\s+(?:live|living|going\s+on)\b".to_owned(),
            ),
            (
                SelfHarm,
                0.75,
                High,
                true,
                r"\b(?:cutting|burning|starving|harming)\s+myself\b|\bslit(?:ting)?\s+my\s+wrists\b".to_owned(),
            ),
            (
                SelfHarm,
                0.45,
                Medium,
                true,
                r"\b(?:hurt|hurting|harm|cut)\s+myself\b".to_owned(),
            ),
            (
                SelfHarm,
                0.55,
                Medium,
                true,
                r"\bself[-\s]?harm(?:ing)?\b".to_owned(),
            ),
            (
                SelfHarm,
                0.95,
                High,
                false,
                r"\bhow\s+(?:many|much)\s+(?:pills|tylenol|paracetamol|sleeping\s+pills|insulin)\s+(?:does\s+it\s+take\s+|do\s+i\s+need\s+|would\s+it\s+take\s+)?to\s+(?:die|kill\s+(?:myself|yourself|a\s+person)|overdose)\b|\b(?:best|easiest|painless|quickest)\s+way\s+to\s+(?:kill\s+myself|commit\s+suicide|die)\b".to_owned(),
            ),
            // Harassment.
            (
                Harassment,
                0.95,
                High,
                true,
                r"\b(?:go\s+)?kill\s+(?:yo)?urself\b|\bkys\b".to_owned(),
            ),
            (
                SelfHarm,
                0.5,
                Medium,
                true,
                r"\b(?:go\s+)?kill\s+(?:yo)?urself\b|\bkys\b".to_owned(),
            ),
            (
                Harassment,
                0.8,
                Medium,
                true,
                r"\b(?:you|u)\s*(?:'re|r|are)\s+(?:(?:such|so|a|an|the|fucking|complete|total|utter|absolute|stupid|useless|worthless|little|fat|ugly|dumb)\s+)*(?:idiot|moron|imbecile|stupid|retard(?:ed)?|worthless|pathetic|loser|piece\s+of\s+(?:shit|crap|garbage|trash)|bitch|cunt|whore|slut|dumbass|dickhead|asshole|scumbag|scum|disgusting\s+pig|fat\s+(?:pig|cow)|waste\s+of\s+(?:space|oxygen|skin))\b".to_owned(),
            ),
            (
                Harassment,
                0.75,
                Medium,
                true,
                r"\b(?:stupid|dumb|fucking|worthless|useless|pathetic|ugly|fat|lazy|filthy)\s+(?:bitch|cunt|whore|slut|idiot|moron|retard|asshole|loser|piece\s+of\s+shit|skank)\b".to_owned(),
            ),
            (
                Harassment,
                0.6,
                Medium,
                true,
                r"\bfuck\s+(?:you|u|off|yourself)\b|\bscrew\s+you\b".to_owned(),
            ),
            (
                Harassment,
                0.8,
                Medium,
                true,
                r"\bgo\s+(?:to\s+hell|die|fuck\s+yourself|jump\s+off\s+a\s+(?:bridge|cliff|building))\b".to_owned(),
            ),
            (
                Harassment,
                0.9,
                High,
                true,
                r"\b(?:i\s+)?hope\s+(?:you|u)\s+(?:die|get\s+(?:cancer|raped|hit\s+by\s+a\s+(?:car|bus|truck))|rot|burn\s+in\s+hell|suffer)\b".to_owned(),
            ),
            (
                Harassment,
                0.85,
                High,
                true,
                r"\b(?:you|u)\s+(?:should|need\s+to|ought\s+to|deserve\s+to)\s+(?:just\s+|all\s+)?(?:die|kill\s+yourself|be\s+(?:shot|killed|raped|hanged|hung))\b|\b(?:go\s+)?die\s+in\s+a\s+(?:fire|hole|ditch)\b".to_owned(),
            ),
            (
                Harassment,
                0.6,
                Medium,
                false,
                r"\bnobody\s+(?:likes|loves|wants|cares\s+about)\s+you\b".to_owned(),
            ),
            (
                Harassment,
                0.85,
                High,
                true,
                r"\bi\s+know\s+where\s+(?:you|u|your\s+(?:kids|family|wife|husband))\s+(?:live|lives|sleep|go\s+to\s+school)\b".to_owned(),
            ),
            (
                Harassment,
                0.75,
                Medium,
                true,
                format!(
                    r"\b{FIRST_PERSON_WILL}\s+{INTENSIFIER}(?:make\s+your\s+life\s+(?:a\s+)?(?:living\s+)?hell|ruin\s+your\s+(?:life|career|family|marriage)|find\s+(?:you|out\s+where\s+you\s+live))\b"
                ),
            ),
            (
                Harassment,
                0.35,
                Low,
                true,
                r"\b(?:bitch|cunt|whore|slut|motherfuckers?|assholes?|dickheads?|skanks?)\b".to_owned(),
            ),
            (Harassment, 0.3, Low, true, r"\bshut\s+(?:the\s+fuck\s+)?up\b".to_owned()),
            // Hate.
            (
                Hate,
                0.9,
                High,
                true,
                r"\b(?:niggers?|niggas?|kikes?|kykes?|spics?|wetbacks?|gooks?|ragheads?|towelheads?|sand\s*niggers?|faggots?|fags|trannies|tranny|beaners?|zipperheads?|porch\s+monkeys?|jigaboos?|coons|chinks)\b".to_owned(),
            ),
            (
                Hate,
                0.55,
                Medium,
                true,
                r"\b(?:dykes?|retards|chink|paki|pakis|gypped|shemales?)\b".to_owned(),
            ),
            (
                Hate,
                0.9,
                High,
                true,
                format!(
                    r"\b(?:all\s+|those\s+|these\s+|the\s+)?{GROUP}\s+(?:are|r|is)\s+(?:all\s+|just\s+|nothing\s+but\s+|like\s+)?(?:animals|vermin|rats|cockroaches|roaches|parasites|subhumans?|savages|apes|monkeys|pigs|dogs|a\s+(?:disease|plague|cancer|virus)|filth|inferior|scum|trash|garbage|evil|criminals|terrorists|rapists|not\s+(?:human|people))\b"
                ),
            ),
            (
                Hate,
                0.97,
                Critical,
                true,
                format!(
                    r"\b(?:kill|shoot|hang|gas|exterminate|eradicate|wipe\s+out|deport|get\s+rid\s+of)\s+(?:all\s+)(?:the\s+|those\s+|these\s+)?{GROUP}\b|\b{GROUP}\s+(?:should|must|need\s+to|ought\s+to|deserve\s+to)\s+(?:all\s+)?(?:die|be\s+(?:killed|shot|gassed|exterminated|eradicated|wiped\s+out|hanged|hung|lynched|burned))\b"
                ),
            ),
            (
                Hate,
                0.85,
                High,
                true,
                format!(r"\bi\s+(?:hate|despise|can'?t\s+stand)\s+(?:all\s+)?{GROUP}\b"),
            ),
            (
                Hate,
                0.6,
                Medium,
                true,
                r"\bgo\s+back\s+to\s+(?:your|their)\s+(?:own\s+)?(?:country|countries|jungle|cave|desert)\b".to_owned(),
            ),
            (
                Hate,
                0.9,
                High,
                false,
                r"\b(?:heil\s+hitler|sieg\s+heil|white\s+power|gas\s+the\s+jews|race\s+war\s+now|jews\s+will\s+not\s+replace\s+us|subhumans?|untermenschen)\b".to_owned(),
            ),
            // Sexual.
            (
                Sexual,
                0.95,
                High,
                true,
                format!(
                    r"\b(?:suck|lick|ride|touch|grab|squeeze|fondle|rub|play\s+with)(?:ing|s)?\s+(?:my|your|his|her)\s+{SEXUAL_BODY}\b"
                ),
            ),
            (
                Sexual,
                0.9,
                High,
                true,
                r"\b(?:i\s+(?:want|wanna|need|would\s+love|'d\s+love|d\s+love)\s+to|let\s+me|let'?s|i\s*'?m\s+gonna|i\s+will|i\s*'?ll)\s+(?:fuck|bang|screw|sleep\s+with|have\s+sex\s+with|make\s+love\s+to|eat\s+(?:you|her)\s+out|go\s+down\s+on)\s*(?:you|u|her|him|me)\b".to_owned(),
            ),
            (
                Sexual,
                0.9,
                High,
                true,
                r"\b(?:send|show)\s+(?:me\s+)?(?:your\s+|some\s+)?(?:nudes|naked\s+(?:pics|photos|pictures|selfies)|tits|boobs|dick\s+pics?|pussy)\b".to_owned(),
            ),
            (
                Sexual,
                0.8,
                High,
                true,
                r"\b(?:so\s+)?(?:hard|wet|horny)\s+(?:for|thinking\s+about|looking\s+at)\s+(?:you|u)\b".to_owned(),
            ),
            (
                Sexual,
                0.7,
                Medium,
                true,
                r"\b(?:porn|porno|pornography|pornographic|hentai|blowjobs?|handjobs?|cumshots?|gangbangs?|deepthroat(?:ing)?|creampies?|bukkake|masturbat(?:e|es|ed|ing|ion)|anal\s+sex|oral\s+sex|sex\s+tapes?|camgirls?|jerk(?:ing)?\s+off|jack(?:ing)?\s+off)\b".to_owned(),
            ),
            (
                Sexual,
                0.55,
                Medium,
                true,
                r"\b(?:orgasms?|horny|nudes|dildos?|threesome|erotica|cum)\b".to_owned(),
            ),
            (
                Sexual,
                0.25,
                Low,
                true,
                r"\b(?:tits|titties|boobs|pussy|cock|naked|nude|sexy|erotic|fetish|onlyfans)\b".to_owned(),
            ),
            (
                Sexual,
                1.0,
                Critical,
                false,
                r"\b(?:child|children|kiddie|kiddy|underage|under-age|preteen|pre-teen|teen|minor)\s*(?:porn|pornography|sex|nudes|naked\s+(?:pics|photos|pictures))\b|\bcsam\b|\bpedo(?:phile)?\s+(?:content|material|pics)\b".to_owned(),
            ),
        ];

        let patterns: Vec<Pattern> = spec
            .into_iter()
            .map(|(category, weight, severity, negatable, pattern)| Pattern {
                category,
                weight,
                severity,
                negatable,
                regex: compile(&pattern),
            })
            .collect();
        let prefilter = RegexSet::new(patterns.iter().map(|p| p.regex.as_str())).ok();

        ContentClassifier {
            patterns,
            prefilter,
            benign: compile(
                r"\bhang(?:s|ing)?\s+(?:you|him|her|them|me|us)\s+out\s+to\s+dry\b|\b(?:hit|kick|punch|attack)(?:s|ing)?\s+(?:you|him|her|them|me|us)\s+(?:up|with|back|off|out|over|in\s+the\s+(?:inbox|morning|afternoon))\b|\b(?:porn|adult(?:\s+content)?)\s+(?:filters?|blockers?|blocking|detection)\b|\b(?:child|children|teen|underage|minor)\s+sex(?:ual)?\s+(?:abuse|trafficking|education|offen[cs]es?|offenders?|exploitation)\b|\b(?:kill|murder|destroy|crush|slaughter|beat|bury|end|smash)(?:s|ed|ing)?\s+(?:them|him|her|you|it|us)\s+(?:in|at|on|during|with|over)\s+(?:the\s+|this\s+|that\s+|our\s+|their\s+|a\s+|every\s+|each\s+)?(?:rfp|bake-?off|demo|market|pitch|negotiations?|deal|renewal|review|meeting|presentation|numbers|sales|competition|price|pricing|features?|quarter|q[1-4]|game|round|race|tender|bid|evaluation|poc|pilot|trial|category|segment|benchmarks?|head-to-head|shootout)\b|\bkill(?:s|ed|ing)?\s+(?:the|this|that|our|their|a|an|my|your|his|her|its)\s+(?:deal|project|feature|price|pricing|budget|campaign|meeting|call|process|ticket|bug|lead|momentum|competition|quota|idea|proposal|initiative|account|renewal|contract|order|line\s+item|discount|request|thread|job|task|demo|pilot|launch|release|build|server|session|query)\b|\bkill(?:s|ed|ing)?\s+(?:them|him|her|you|us|it)\s+with\s+(?:kindness|this|that|our|the|a|an)\b|\bkilling\s+it\b|\bshoot(?:s|ing)?\s+(?:me|you|him|her|them|us|it)\s+(?:an?|the|over|some|my|our|your|their|back|across|through)\b|\bhit\s+(?:you|him|her|them|me|us)\s+up\b|\bbeat(?:s|ing)?\s+(?:them|him|her|you)\s+(?:on|in|at|to|by|with)\s+(?:the\s+)?(?:price|pricing|features?|speed|punch|deal|market|quota|it|renewal|rfp|bid|demo|numbers)\b|\bscrew(?:ed|ing)?\s+(?:\w+\s+)?over\b|\bsuicide\s+(?:prevention|hotline|awareness|lifeline|squad)\b|\b(?:commercial|career|political|corporate|brand|financial|social|economic|business|pricing|market)\s+suicide\b|\bsuicide\s+(?:mission|doors?|run|pass)\b|\bend\s+(?:you|u)\s+(?:an?|the|over|my|our)\b",
            ),
            negation: compile(
                r"\b(?:not|never|no|don'?t|doesn'?t|didn'?t|won'?t|wouldn'?t|isn'?t|wasn'?t|aren'?t|can'?t|cannot|couldn'?t|shouldn'?t|nor|without)\b[^.!?;,:]*$",
            ),
            reporting: compile(
                r"\b(?:said|says|say|wrote|writes|write|quoted?|quoting|complained|reported|claimed|claims|told\s+(?:me|us|them|him|her)|mentioned|threatened|reads|stating|stated|alleged|alleges|accused|posted|replied|responded|texted|emailed|yelled|screamed|shouted)\b[^.!?]*$",
            ),
            minor: compile(
                r"\b(?:child|children|kid|kids|minor|minors|underage|under-age|preteen|pre-teen|teens?|teenagers?|toddlers?|little\s+(?:girl|boy)s?|schoolgirls?|schoolboys?|(?:[1-9]|1[0-7])\s*(?:yo|y/o|years?\s*old|year-old))\b",
            ),
        }
    }

    /// Scores `text` in every category.
    pub fn classify(&self, text: &str) -> ContentScores {
        let mut scores = ContentScores::default();
        let candidates: Vec<usize> = match &self.prefilter {
            Some(set) => set.matches(text).into_iter().collect(),
            None => (0..self.patterns.len()).collect(),
        };
        if candidates.is_empty() {
            return scores;
        }

        let benign: Vec<(usize, usize)> = self
            .benign
            .find_iter(text)
            .map(|m| (m.start(), m.end()))
            .collect();
        let mut hits: Vec<Hit> = Vec::new();
        for index in candidates {
            let Some(pattern) = self.patterns.get(index) else {
                continue;
            };
            for m in pattern.regex.find_iter(text) {
                let (start, end) = (m.start(), m.end());
                let mut damp = 1.0f32;
                if benign.iter().any(|&(s, e)| s < end && start < e) {
                    damp *= 0.05;
                }
                if pattern.negatable && self.negation.is_match(window_before(text, start, 28)) {
                    damp *= 0.25;
                }
                if self.reporting.is_match(window_before(text, start, 60)) || is_quoted(text, start)
                {
                    damp *= 0.5;
                }
                let mut hit = Hit {
                    category: pattern.category,
                    weight: pattern.weight * damp,
                    severity: if damp < 1.0 {
                        lower(pattern.severity)
                    } else {
                        pattern.severity
                    },
                    start,
                    end,
                };
                // Sexual content next to a minor is the worst case there is.
                if hit.category == ContentCategory::Sexual
                    && hit.weight >= MINOR_ESCALATION
                    && self.minor.is_match(window_around(text, start, end, 80))
                {
                    hit.weight = 1.0;
                    hit.severity = Severity::Critical;
                }
                hits.push(hit);
            }
        }

        hits.sort_by(|a, b| (a.category, a.start, b.end).cmp(&(b.category, b.start, a.end)));
        // Overlapping matches of one category are one piece of evidence, not several.
        let mut merged: Vec<Hit> = Vec::with_capacity(hits.len());
        for hit in hits {
            match merged.last_mut() {
                Some(last) if last.category == hit.category && hit.start < last.end => {
                    last.end = last.end.max(hit.end);
                    last.weight = last.weight.max(hit.weight);
                    last.severity = last.severity.max(hit.severity);
                }
                _ => merged.push(hit),
            }
        }
        for hit in merged {
            // Noisy-OR: independent pieces of evidence add up without passing 1.
            let score = scores.scores.entry(hit.category).or_insert(0.0);
            *score = 1.0 - (1.0 - *score) * (1.0 - hit.weight.clamp(0.0, 1.0));
            if hit.weight >= FINDING_FLOOR {
                scores.findings.push(ContentFinding {
                    category: hit.category,
                    severity: hit.severity,
                    start: Some(hit.start),
                    end: Some(hit.end),
                });
            }
        }
        scores
    }
}

#[derive(Debug)]
struct Hit {
    category: ContentCategory,
    weight: f32,
    severity: Severity,
    start: usize,
    end: usize,
}

/// Case-insensitive, with ASCII word boundaries so the DFA engines stay usable.
fn compile(pattern: &str) -> Regex {
    literal_regex(&format!("(?i){}", pattern.replace(r"\b", r"(?-u:\b)")))
}

const fn lower(severity: Severity) -> Severity {
    match severity {
        Severity::Critical => Severity::High,
        Severity::High => Severity::Medium,
        Severity::Medium | Severity::Low => Severity::Low,
    }
}

fn floor_boundary(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while at > 0 && !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn ceil_boundary(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while at < text.len() && !text.is_char_boundary(at) {
        at += 1;
    }
    at
}

/// Up to `len` bytes before `at`, within the same line.
fn window_before(text: &str, at: usize, len: usize) -> &str {
    let start = floor_boundary(text, at.saturating_sub(len));
    let window = text.get(start..at).unwrap_or("");
    match window.rfind('\n') {
        Some(newline) => window.get(newline + 1..).unwrap_or(""),
        None => window,
    }
}

fn window_around(text: &str, start: usize, end: usize, len: usize) -> &str {
    let from = floor_boundary(text, start.saturating_sub(len));
    let to = ceil_boundary(text, end.saturating_add(len));
    text.get(from..to).unwrap_or("")
}

/// Whether `at` is inside double quotes opened earlier on the same line.
fn is_quoted(text: &str, at: usize) -> bool {
    let line = window_before(text, at, 400);
    let straight = line.matches('"').count();
    let opened = line.matches(['\u{201C}', '\u{00AB}']).count();
    let closed = line.matches(['\u{201D}', '\u{00BB}']).count();
    straight % 2 == 1 || opened > closed
}

/// Why a moderation response could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "error")]
pub enum ContentError {
    /// The endpoint answered with an error object.
    Provider { message: String },
    /// The body is not a moderation response.
    Malformed { message: String },
}

impl fmt::Display for ContentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContentError::Provider { message } => {
                write!(
                    f,
                    "the moderation endpoint answered with an error: {message}"
                )
            }
            ContentError::Malformed { message } => {
                write!(f, "malformed moderation response: {message}")
            }
        }
    }
}

impl std::error::Error for ContentError {}

/// The body of a request to an OpenAI-compatible `POST /v1/moderations`.
pub fn moderation_request(model: &str, input: &str) -> Value {
    serde_json::json!({ "model": model, "input": input })
}

/// The endpoint's categories and which of ours each feeds. Ours take the highest score of
/// their subcategories. `illicit` (advice for wrongdoing) has no counterpart here; its
/// violent part counts as violence.
const MODERATION_CATEGORIES: [(&str, ContentCategory); 12] = [
    ("hate", ContentCategory::Hate),
    ("hate/threatening", ContentCategory::Hate),
    ("harassment", ContentCategory::Harassment),
    ("harassment/threatening", ContentCategory::Harassment),
    ("self-harm", ContentCategory::SelfHarm),
    ("self-harm/intent", ContentCategory::SelfHarm),
    ("self-harm/instructions", ContentCategory::SelfHarm),
    ("sexual", ContentCategory::Sexual),
    ("sexual/minors", ContentCategory::Sexual),
    ("violence", ContentCategory::Violence),
    ("violence/graphic", ContentCategory::Violence),
    ("illicit/violent", ContentCategory::Violence),
];

/// The severity a flagged subcategory implies, beyond what its score says.
fn subcategory_severity(name: &str) -> Severity {
    match name {
        "sexual/minors" => Severity::Critical,
        "hate/threatening"
        | "harassment/threatening"
        | "self-harm/intent"
        | "self-harm/instructions"
        | "violence/graphic"
        | "illicit/violent" => Severity::High,
        _ => Severity::Medium,
    }
}

fn severity_for_score(score: f32) -> Option<Severity> {
    if score >= 0.9 {
        Some(Severity::High)
    } else if score >= 0.7 {
        Some(Severity::Medium)
    } else if score >= DEFAULT_THRESHOLD {
        Some(Severity::Low)
    } else {
        None
    }
}

/// Reads an OpenAI-compatible moderation response into scores. Each of our categories takes
/// the highest score of its subcategories across all results; a category gets a whole-text
/// finding when a subcategory is flagged or scores at least [`DEFAULT_THRESHOLD`], as severe
/// as the worse of its score and its flagged subcategories imply (`sexual/minors` is
/// critical, the threatening, intent, instructions and graphic ones high). Scores that are
/// missing or `null` (servers omit categories they do not model) count as 0.
pub fn parse_moderation_response(body: &Value) -> Result<ContentScores, ContentError> {
    if let Some(error) = body.get("error").filter(|e| !e.is_null()) {
        let message = error
            .get("message")
            .and_then(Value::as_str)
            .map_or_else(|| error.to_string(), str::to_owned);
        return Err(ContentError::Provider { message });
    }
    let malformed = |message: &str| ContentError::Malformed {
        message: message.to_owned(),
    };
    let results = body
        .get("results")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed("no `results` array"))?;
    if results.is_empty() {
        return Err(malformed("`results` is empty"));
    }

    let mut scores = ContentScores::default();
    let mut severities: BTreeMap<ContentCategory, Severity> = BTreeMap::new();
    for result in results {
        let category_scores = result
            .get("category_scores")
            .and_then(Value::as_object)
            .ok_or_else(|| malformed("a result has no `category_scores` object"))?;
        let flags = result.get("categories").and_then(Value::as_object);
        for (name, ours) in MODERATION_CATEGORIES {
            let score = match category_scores.get(name) {
                None | Some(Value::Null) => 0.0,
                Some(value) => value
                    .as_f64()
                    .ok_or_else(|| ContentError::Malformed {
                        message: format!("the score of `{name}` is not a number"),
                    })?
                    .clamp(0.0, 1.0) as f32,
            };
            let flagged = flags
                .and_then(|f| f.get(name))
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let entry = scores.scores.entry(ours).or_insert(0.0);
            *entry = entry.max(score);
            let severity = match (flagged, severity_for_score(score)) {
                (true, by_score) => Some(
                    by_score
                        .unwrap_or(Severity::Medium)
                        .max(subcategory_severity(name)),
                ),
                (false, Some(by_score)) if score >= 0.9 => {
                    Some(by_score.max(subcategory_severity(name)))
                }
                (false, by_score) => by_score,
            };
            if let Some(severity) = severity {
                let worst = severities.entry(ours).or_insert(severity);
                *worst = (*worst).max(severity);
            }
        }
    }
    scores.findings = severities
        .into_iter()
        .map(|(category, severity)| ContentFinding {
            category,
            severity,
            start: None,
            end: None,
        })
        .collect();
    Ok(scores)
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::LazyLock;

    static CLASSIFIER: LazyLock<ContentClassifier> = LazyLock::new(ContentClassifier::new);

    const CRM_TEXTS: &[&str] = &[
        "Let's kill the deal if legal doesn't sign off by Friday.",
        "This pricing is killing us in the mid-market segment.",
        "Shoot me an email with the updated quote.",
        "I'll shoot you the deck over before the call.",
        "Please execute the contract and send the countersigned copy.",
        "We need to hit the target for Q3 or the forecast slips.",
        "Terminate the subscription at the end of the billing cycle.",
        "The renewal is dead in the water unless procurement moves.",
        "Our new onboarding flow is killing it with enterprise accounts.",
        "We will beat them on price and on time-to-value.",
        "Kill the old campaign and reallocate the budget to webinars.",
        "The competitor slashed prices to undercut our bid.",
        "That discount would be commercial suicide for the margin.",
        "We're bleeding cash on the legacy support contract.",
        "I'll hit you up after the board meeting.",
        "The demo bombed, so let's regroup with the champion.",
        "Cut the price by 10% only if they sign a three-year term.",
        "This deadline is a killer, but we'll make it.",
        "Our reps crushed their quota this quarter.",
        "The champion got fired, so the deal is at risk.",
        "Attack the upsell opportunity before the fiscal year closes.",
        "We have to knock out the security questionnaire this week.",
        "Execute on the account plan and report weekly.",
        "The prospect said our pricing is a deal-breaker.",
        "I could kill for a signed PO right now.",
        "Blow the competition out of the water in the bake-off.",
        "Terminate the trial and convert the workspace to paid.",
        "The exec sponsor wants to take a stab at the business case.",
        "Send the final nail in the coffin: the ROI calculator.",
        "Don't shoot the messenger, but legal rejected the redlines.",
        "Sex: F, Date of birth: 1984-03-12, Account: 0015000000VALDt.",
        "Replace XXX with the customer's account number before sending.",
        "Her maiden name is Dick; the account owner is Richard Cox.",
        "Our market penetration in EMEA grew 12%.",
        "The steel erection subcontractor needs a revised quote.",
        "Cocktail reception at 6pm for the Assessment Summit attendees.",
        "The launch was a massacre for our competitors' pipeline.",
        "Hang the banners in the booth before the expo opens.",
        "We'll bury them with features in the next release.",
        "I'm dying to see the Q4 numbers.",
        "Target the decision makers and fire off the sequence.",
        "Screw them over on the renewal? No, we keep it fair.",
        "The customer is threatening to churn if we don't fix the bug.",
        "Knock their socks off with the new dashboard.",
        "The suicide prevention nonprofit renewed their grant license.",
        "We'll kill them in the RFP.",
        "I'll kill you with kindness at the QBR.",
        "Let's shoot them over the contract tonight.",
        "I'll hit you back after the call.",
        "Do you want me to kill the process on the server?",
        "Please terminate all child processes and kill the zombie jobs.",
        "Child accounts inherit the parent's porn filter settings.",
        "Bang for the buck is great with the annual plan.",
        "Assassinate the bad leads from the list.",
        "The death spiral of churn must stop.",
        "The guillotine clause in the contract kicks in at 90 days.",
        "We took a beating on the Acme deal.",
        "Our champion is dying to see the roadmap.",
        "The customer threatened to sue us over the outage.",
        "This bug is a total killer for our conversion rate.",
    ];

    #[test]
    fn business_idioms_stay_clean() {
        assert!(CRM_TEXTS.len() >= 30);
        for text in CRM_TEXTS {
            let scores = CLASSIFIER.classify(text);
            assert!(
                scores.is_clean(DEFAULT_THRESHOLD),
                "{text}: {:?}",
                scores.scores
            );
            assert!(scores.findings.is_empty(), "{text}: {:?}", scores.findings);
        }
        let all = CRM_TEXTS.join(" ");
        assert!(CLASSIFIER.classify(&all).is_clean(DEFAULT_THRESHOLD));
    }

    fn assert_caught(text: &str, category: ContentCategory) -> ContentScores {
        let scores = CLASSIFIER.classify(text);
        assert!(
            scores.score(category) >= DEFAULT_THRESHOLD,
            "{text}: {category} {:?}",
            scores.scores
        );
        assert!(scores.severity_of(category).is_some(), "{text}");
        scores
    }

    #[test]
    fn threats_and_graphic_violence_are_caught() {
        for text in [
            "I will kill you.",
            "I'm going to hurt you and your family.",
            "I swear I'll stab him if he shows up.",
            "We will find and kill you.",
            "I'm gonna break your neck.",
            "You're a dead man.",
            "Someone should shoot him.",
            "I'll shoot up the office tomorrow.",
            "He slit her throat and there was blood everywhere.",
            "They beat him to death in the parking lot.",
            "I will punch you in the face.",
            "Burn the building down with them inside.",
        ] {
            assert_caught(text, ContentCategory::Violence);
        }
        let office = assert_caught("I'll shoot up the office", ContentCategory::Violence);
        assert_eq!(
            office.severity_of(ContentCategory::Violence),
            Some(Severity::Critical)
        );
    }

    #[test]
    fn self_harm_is_caught() {
        for text in [
            "I want to end my life.",
            "I'm going to kill myself tonight.",
            "I don't want to live anymore.",
            "Honestly I'd be better off dead.",
            "I've been cutting myself again.",
            "How many pills does it take to die?",
            "I feel suicidal.",
        ] {
            assert_caught(text, ContentCategory::SelfHarm);
        }
    }

    #[test]
    fn harassment_is_caught() {
        for text in [
            "You're a worthless piece of shit.",
            "You are such a stupid idiot.",
            "Go kill yourself.",
            "I hope you die.",
            "Fuck you, I know where you live.",
            "I'll make your life a living hell.",
            "die in a fire",
            "you should die",
            "u r a fucking retard",
        ] {
            assert_caught(text, ContentCategory::Harassment);
        }
    }

    #[test]
    fn hate_is_caught() {
        for text in [
            "Immigrants are vermin.",
            "All muslims should be exterminated.",
            "I hate jews.",
            "Get out, you filthy raghead.",
            "Go back to your own country.",
            "Heil Hitler!",
            "Muslims are terrorists.",
        ] {
            assert_caught(text, ContentCategory::Hate);
        }
        let scores = CLASSIFIER.classify("All muslims should be exterminated.");
        assert_eq!(
            scores.severity_of(ContentCategory::Hate),
            Some(Severity::Critical)
        );
    }

    #[test]
    fn sexual_content_is_caught_and_minors_are_critical() {
        for text in [
            "Send me nudes tonight.",
            "I want to fuck you so bad.",
            "Suck my dick.",
            "Watch free porn here.",
        ] {
            let scores = assert_caught(text, ContentCategory::Sexual);
            assert_ne!(
                scores.severity_of(ContentCategory::Sexual),
                Some(Severity::Critical),
                "{text}"
            );
        }
        let minors = assert_caught(
            "Send me nudes, I know you're 14 years old.",
            ContentCategory::Sexual,
        );
        assert_eq!(
            minors.severity_of(ContentCategory::Sexual),
            Some(Severity::Critical)
        );
        let direct = assert_caught("where to find child porn", ContentCategory::Sexual);
        assert_eq!(
            direct.severity_of(ContentCategory::Sexual),
            Some(Severity::Critical)
        );
    }

    #[test]
    fn negation_and_reported_speech_damp() {
        let negated = CLASSIFIER.classify("I'm not going to kill myself, don't worry.");
        assert!(negated.is_clean(DEFAULT_THRESHOLD), "{:?}", negated.scores);
        let insult = CLASSIFIER.classify("I never said you're an idiot.");
        assert!(insult.is_clean(DEFAULT_THRESHOLD), "{:?}", insult.scores);

        let direct = CLASSIFIER.classify("I will kill you");
        let reported = CLASSIFIER.classify("The customer wrote: I will kill you");
        let quoted = CLASSIFIER.classify("Ticket body: \"I will kill you\"");
        let v = ContentCategory::Violence;
        assert!(reported.score(v) < direct.score(v));
        assert!(quoted.score(v) < direct.score(v));
        // Damped, still reported, one level lower.
        assert_eq!(reported.severity_of(v), Some(Severity::Medium));
        assert_eq!(direct.severity_of(v), Some(Severity::High));
    }

    #[test]
    fn findings_carry_spans_and_scores_combine() {
        let text = "Great call today. I will kill you. Talk soon.";
        let scores = CLASSIFIER.classify(text);
        let finding = &scores.findings[0];
        assert_eq!(finding.category, ContentCategory::Violence);
        assert_eq!(
            &text[finding.start.unwrap()..finding.end.unwrap()],
            "I will kill you"
        );
        assert_eq!(scores.max().unwrap().0, ContentCategory::Violence);
        let flagged: Vec<_> = scores.flagged(DEFAULT_THRESHOLD).collect();
        assert_eq!(flagged, vec![ContentCategory::Violence]);

        // Two independent insults weigh more than one.
        let one = CLASSIFIER.classify("you're an idiot");
        let two = CLASSIFIER.classify("you're an idiot. you are a moron.");
        assert!(two.score(ContentCategory::Harassment) > one.score(ContentCategory::Harassment));
        assert!(two.score(ContentCategory::Harassment) <= 1.0);
    }

    #[test]
    fn empty_and_non_ascii_text() {
        let clean = CLASSIFIER.classify("");
        assert!(clean.is_clean(DEFAULT_THRESHOLD));
        assert_eq!(clean.scores.len(), 5);
        assert_eq!(clean.max().map(|(_, s)| s), Some(0.0));
        let text = "Grüße — “I will kill you” — 🚀";
        let scores = CLASSIFIER.classify(text);
        assert!(scores.score(ContentCategory::Violence) > 0.0);
        for f in &scores.findings {
            assert!(text.get(f.start.unwrap()..f.end.unwrap()).is_some());
        }
    }

    #[test]
    fn classifier_is_shareable() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<ContentClassifier>();
    }

    #[test]
    fn serde_names() {
        assert_eq!(
            serde_json::to_value(ContentCategory::SelfHarm).unwrap(),
            json!("self_harm")
        );
        let scores = CLASSIFIER.classify("I will kill you");
        let value = serde_json::to_value(&scores).unwrap();
        assert!(value["scores"]["violence"].as_f64().unwrap() > 0.5);
        let back: ContentScores = serde_json::from_value(value).unwrap();
        assert_eq!(back, scores);
    }

    #[test]
    fn moderation_request_body() {
        assert_eq!(
            moderation_request("omni-moderation-latest", "hello"),
            json!({"model": "omni-moderation-latest", "input": "hello"})
        );
    }

    fn moderation_body() -> Value {
        json!({
            "id": "modr-0d9740456c391e43c445bf0f010940c7",
            "model": "omni-moderation-latest",
            "results": [{
                "flagged": true,
                "categories": {
                    "harassment": true,
                    "harassment/threatening": true,
                    "sexual": false,
                    "hate": false,
                    "hate/threatening": false,
                    "illicit": false,
                    "illicit/violent": false,
                    "self-harm/intent": false,
                    "self-harm/instructions": false,
                    "self-harm": false,
                    "sexual/minors": false,
                    "violence": true,
                    "violence/graphic": false
                },
                "category_scores": {
                    "harassment": 0.8189693396524255,
                    "harassment/threatening": 0.804985420696006,
                    "sexual": 1.1e-05,
                    "hate": 0.0001,
                    "hate/threatening": 2.3e-06,
                    "illicit": 0.0009,
                    "illicit/violent": 0.0008,
                    "self-harm/intent": 0.0002,
                    "self-harm/instructions": 0.0001,
                    "self-harm": 0.0005,
                    "sexual/minors": 1.5e-07,
                    "violence": 0.9223490132860989,
                    "violence/graphic": 0.00421
                },
                "category_applied_input_types": {
                    "harassment": ["text"],
                    "violence": ["text"]
                }
            }]
        })
    }

    #[test]
    fn parses_a_moderation_response() {
        let scores = parse_moderation_response(&moderation_body()).unwrap();
        assert!((scores.score(ContentCategory::Violence) - 0.922_349).abs() < 1e-5);
        assert!((scores.score(ContentCategory::Harassment) - 0.818_969).abs() < 1e-5);
        assert!(scores.score(ContentCategory::SelfHarm) < 0.001);
        assert_eq!(scores.max().unwrap().0, ContentCategory::Violence);
        assert_eq!(
            scores.severity_of(ContentCategory::Violence),
            Some(Severity::High)
        );
        // Flagged as threatening: high although the score alone says medium.
        assert_eq!(
            scores.severity_of(ContentCategory::Harassment),
            Some(Severity::High)
        );
        assert_eq!(scores.severity_of(ContentCategory::Hate), None);
        assert!(scores.findings.iter().all(|f| f.start.is_none()));
        let flagged: Vec<_> = scores.flagged(DEFAULT_THRESHOLD).collect();
        assert_eq!(
            flagged,
            vec![ContentCategory::Harassment, ContentCategory::Violence]
        );
    }

    #[test]
    fn moderation_subcategories_take_the_max() {
        let body = json!({"results": [
            {"flagged": true,
             "categories": {"sexual": false, "sexual/minors": true},
             "category_scores": {"sexual": 0.2, "sexual/minors": 0.6, "illicit": null}},
            {"flagged": false, "categories": {},
             "category_scores": {"self-harm": 0.1, "self-harm/intent": 0.3}}
        ]});
        let scores = parse_moderation_response(&body).unwrap();
        assert!((scores.score(ContentCategory::Sexual) - 0.6).abs() < 1e-6);
        assert!((scores.score(ContentCategory::SelfHarm) - 0.3).abs() < 1e-6);
        assert_eq!(
            scores.severity_of(ContentCategory::Sexual),
            Some(Severity::Critical)
        );
        assert_eq!(scores.severity_of(ContentCategory::SelfHarm), None);
    }

    #[test]
    fn moderation_errors() {
        let error = json!({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}});
        assert_eq!(
            parse_moderation_response(&error),
            Err(ContentError::Provider {
                message: "Incorrect API key provided".into()
            })
        );
        assert!(matches!(
            parse_moderation_response(&json!({"id": "x"})),
            Err(ContentError::Malformed { .. })
        ));
        assert!(matches!(
            parse_moderation_response(&json!({"results": []})),
            Err(ContentError::Malformed { .. })
        ));
        assert!(matches!(
            parse_moderation_response(&json!({"results": [{"categories": {}}]})),
            Err(ContentError::Malformed { .. })
        ));
        assert!(matches!(
            parse_moderation_response(&json!({"results": [{"category_scores": {"hate": "high"}}]})),
            Err(ContentError::Malformed { .. })
        ));
    }

    #[test]
    fn merge_keeps_the_worse_opinion() {
        let mut local = CLASSIFIER.classify("I will kill you");
        let remote = parse_moderation_response(&moderation_body()).unwrap();
        let violence = local.score(ContentCategory::Violence);
        local.merge(remote);
        assert!(local.score(ContentCategory::Violence) >= violence);
        assert!(local.score(ContentCategory::Harassment) > 0.8);
        assert!(local.findings.len() >= 3);
    }
}
