//! Locales: which of the `fake` crate's word lists and templates the
//! generator draws from.

use std::fmt;
use std::str::FromStr;

use fake::locales::{DE_DE, Data, EN, FR_FR, IT_IT, NL_NL, PT_BR};

use crate::FakerError;

/// A locale shipped by the `fake` crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Locale {
    /// English (United States) — the original generator's locale.
    #[default]
    En,
    /// French (France).
    FrFr,
    /// German (Germany).
    DeDe,
    /// Italian (Italy).
    ItIt,
    /// Portuguese (Brazil).
    PtBr,
    /// Dutch (Netherlands).
    NlNl,
}

impl Locale {
    /// Every supported locale.
    pub const ALL: [Locale; 6] = [
        Locale::En,
        Locale::FrFr,
        Locale::DeDe,
        Locale::ItIt,
        Locale::PtBr,
        Locale::NlNl,
    ];

    /// The locale's canonical name, as accepted by [`Locale::from_str`].
    pub fn name(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::FrFr => "fr_FR",
            Locale::DeDe => "de_DE",
            Locale::ItIt => "it_IT",
            Locale::PtBr => "pt_BR",
            Locale::NlNl => "nl_NL",
        }
    }

    /// The word lists and templates of this locale.
    pub(crate) fn data(self) -> &'static LocaleData {
        match self {
            Locale::En => &EN_DATA,
            Locale::FrFr => &FR_DATA,
            Locale::DeDe => &DE_DATA,
            Locale::ItIt => &IT_DATA,
            Locale::PtBr => &PT_BR_DATA,
            Locale::NlNl => &NL_DATA,
        }
    }
}

impl fmt::Display for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Locale {
    type Err = FakerError;

    /// Accepts `en`, `en_US`, `fr_FR`, `fr-fr`, `de`, … case-insensitively.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.trim().to_ascii_lowercase().replace('-', "_");
        let lang = norm.split('_').next().unwrap_or_default();
        match (lang, norm.as_str()) {
            ("en", _) => Ok(Locale::En),
            ("fr", _) => Ok(Locale::FrFr),
            ("de", _) => Ok(Locale::DeDe),
            ("it", _) => Ok(Locale::ItIt),
            ("pt", "pt" | "pt_br") => Ok(Locale::PtBr),
            ("nl", _) => Ok(Locale::NlNl),
            _ => Err(FakerError::UnknownLocale(s.to_string())),
        }
    }
}

/// The `fake` crate's data for one locale, captured as plain slices so that a
/// locale chosen at run time costs nothing per value.
#[derive(Debug)]
pub(crate) struct LocaleData {
    pub(crate) first_names: &'static [&'static str],
    pub(crate) last_names: &'static [&'static str],
    pub(crate) city_prefixes: &'static [&'static str],
    pub(crate) city_suffixes: &'static [&'static str],
    pub(crate) city_template: &'static str,
    pub(crate) city_with_prefix_template: &'static str,
    pub(crate) street_suffixes: &'static [&'static str],
    pub(crate) street_template: &'static str,
    pub(crate) building_number_formats: &'static [&'static str],
    pub(crate) states: &'static [&'static str],
    pub(crate) state_abbrs: &'static [&'static str],
    pub(crate) countries: &'static [&'static str],
    pub(crate) country_codes: &'static [&'static str],
    pub(crate) postcode_formats: &'static [&'static str],
    pub(crate) email_providers: &'static [&'static str],
    pub(crate) phone_formats: &'static [&'static str],
}

impl LocaleData {
    const fn of<L: Data>() -> Self {
        Self {
            first_names: L::NAME_FIRST_NAME,
            last_names: L::NAME_LAST_NAME,
            city_prefixes: L::ADDRESS_CITY_PREFIX,
            city_suffixes: L::ADDRESS_CITY_SUFFIX,
            city_template: L::ADDRESS_CITY_TPL,
            city_with_prefix_template: L::ADDRESS_CITY_WITH_PREFIX_TPL,
            street_suffixes: L::ADDRESS_STREET_SUFFIX,
            street_template: L::ADDRESS_STREET_TPL,
            building_number_formats: L::ADDRESS_BUILDING_NUMBER_FORMATS,
            states: L::ADDRESS_STATE,
            state_abbrs: L::ADDRESS_STATE_ABBR,
            countries: L::ADDRESS_COUNTRY,
            country_codes: L::ADDRESS_COUNTRY_CODE,
            postcode_formats: L::ADDRESS_POSTCODE_FORMATS,
            email_providers: L::INTERNET_FREE_EMAIL_PROVIDER,
            phone_formats: L::PHONE_NUMBER_FORMATS,
        }
    }
}

static EN_DATA: LocaleData = LocaleData::of::<EN>();
static FR_DATA: LocaleData = LocaleData::of::<FR_FR>();
static DE_DATA: LocaleData = LocaleData::of::<DE_DE>();
static IT_DATA: LocaleData = LocaleData::of::<IT_IT>();
static PT_BR_DATA: LocaleData = LocaleData::of::<PT_BR>();
static NL_DATA: LocaleData = LocaleData::of::<NL_NL>();

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_locale_has_every_list() {
        for locale in Locale::ALL {
            let d = locale.data();
            for (name, list) in [
                ("first_names", d.first_names),
                ("last_names", d.last_names),
                ("city_prefixes", d.city_prefixes),
                ("city_suffixes", d.city_suffixes),
                ("street_suffixes", d.street_suffixes),
                ("building_number_formats", d.building_number_formats),
                ("states", d.states),
                ("state_abbrs", d.state_abbrs),
                ("countries", d.countries),
                ("country_codes", d.country_codes),
                ("postcode_formats", d.postcode_formats),
                ("email_providers", d.email_providers),
                ("phone_formats", d.phone_formats),
            ] {
                assert!(!list.is_empty(), "{locale}: {name} is empty");
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for locale in Locale::ALL {
            assert_eq!(locale.name().parse::<Locale>().unwrap(), locale);
        }
        assert_eq!("en_US".parse::<Locale>().unwrap(), Locale::En);
        assert_eq!("FR-fr".parse::<Locale>().unwrap(), Locale::FrFr);
        let err = "xx_YY".parse::<Locale>().unwrap_err();
        assert!(
            matches!(&err, crate::FakerError::UnknownLocale(name) if name == "xx_YY"),
            "{err:?}"
        );
    }
}
