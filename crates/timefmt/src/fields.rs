//! Calendar fields of an instant, computed once per format call.

use jiff::civil::Weekday;
use jiff::tz::TimeZone;
use jiff::Timestamp;

pub struct Fields {
    pub year: i64,
    pub month: i64,
    pub day: i64,
    pub hour: i64,
    pub minute: i64,
    pub second: i64,
    pub nanos: i64,
    /// ISO day of week, Monday = 1.
    pub dow: i64,
    pub day_of_year: i64,
    pub offset_seconds: i32,
    pub iso_week_year: i64,
    pub iso_week: i64,
    zoned: jiff::ZonedDateTime,
}

impl Fields {
    pub fn new(ts: Timestamp, tz: &TimeZone) -> Fields {
        let zoned = ts.to_zoned_datetime(tz.clone());
        let iso = zoned.date().iso_week_date();
        Fields {
            year: zoned.year() as i64,
            month: zoned.month() as i64,
            day: zoned.day() as i64,
            hour: zoned.hour() as i64,
            minute: zoned.minute() as i64,
            second: zoned.second() as i64,
            nanos: zoned.subsec_nanosecond() as i64,
            dow: zoned.weekday().to_monday_one_offset() as i64,
            day_of_year: zoned.day_of_year() as i64,
            offset_seconds: zoned.offset().seconds(),
            iso_week_year: iso.year() as i64,
            iso_week: iso.week() as i64,
            zoned,
        }
    }

    /// java.time `WeekFields.of(Locale.US)`: weeks start on Sunday, week 1 holds January 1st.
    pub fn us_week(&self) -> (i64, i64) {
        let date = self.zoned.date();
        let week_of = |y: i16| -> i64 {
            let jan1 = jiff::civil::date(y, 1, 1);
            let lead = jan1.weekday().to_sunday_zero_offset() as i64;
            let doy = if y == date.year() {
                date.day_of_year() as i64
            } else {
                0
            };
            (doy - 1 + lead) / 7 + 1
        };
        // The last days of December may belong to week 1 of next year.
        let next = date.year().saturating_add(1);
        let next_jan1 = jiff::civil::date(next, 1, 1);
        let days_to_next = date.days_in_year() as i64 - date.day_of_year() as i64 + 1;
        if days_to_next <= next_jan1.weekday().to_sunday_zero_offset() as i64 {
            (next as i64, 1)
        } else {
            (date.year() as i64, week_of(date.year()))
        }
    }

    pub fn us_week_of_month(&self) -> i64 {
        let first = self.zoned.date().first_of_month();
        let lead = first.weekday().to_sunday_zero_offset() as i64;
        (self.day - 1 + lead) / 7 + 1
    }

    pub fn weekday(&self) -> Weekday {
        self.zoned.weekday()
    }

    pub fn zone_id(&self) -> String {
        match self.zoned.time_zone().iana_name() {
            Some(n) => n.to_string(),
            None => "UTC".to_string(),
        }
    }
}
