use super::*;

fn t(text: &str) -> SystemTime {
    SystemTime::try_from(text.parse::<Timestamp>().unwrap()).unwrap()
}

fn until(windows: &[FreezeWindow], at: &str) -> Option<String> {
    frozen_at(windows, t(at)).map(|frozen| frozen.until_rfc3339())
}

fn weekend(duration: &str, zone: &str) -> FreezeWindow {
    FreezeWindow::recurring("0 17 * * FRI", duration, Some(zone), "weekend").unwrap()
}

#[test]
fn a_fixed_window_holds_from_its_start_up_to_its_end() {
    let holidays = [FreezeWindow::fixed(
        "2026-12-20T00:00:00Z",
        "2027-01-04T00:00:00+01:00",
        "holidays",
    )
    .unwrap()];
    assert_eq!(until(&holidays, "2026-12-19T23:59:59Z"), None);
    assert_eq!(
        until(&holidays, "2026-12-20T00:00:00Z").as_deref(),
        Some("2027-01-03T23:00:00Z")
    );
    assert_eq!(
        frozen_at(&holidays, t("2026-12-25T12:00:00Z"))
            .unwrap()
            .reason,
        "holidays"
    );
    assert_eq!(until(&holidays, "2027-01-03T23:00:00Z"), None);
}

#[test]
fn a_weekly_window_in_berlin_starts_at_five_on_fridays_summer_and_winter() {
    let window = [weekend("63h", "Europe/Berlin")];
    // Winter (CET, +01:00): Friday 17:00 is 16:00Z.
    assert_eq!(until(&window, "2026-12-04T15:59:00Z"), None);
    assert_eq!(
        until(&window, "2026-12-04T16:00:00Z").as_deref(),
        Some("2026-12-07T07:00:00Z")
    );
    // Summer (CEST, +02:00): Friday 17:00 is 15:00Z.
    assert_eq!(until(&window, "2026-07-03T14:59:00Z"), None);
    assert_eq!(
        until(&window, "2026-07-03T15:00:00Z").as_deref(),
        Some("2026-07-06T06:00:00Z")
    );
    assert_eq!(until(&window, "2026-07-06T06:00:00Z"), None);
}

#[test]
fn berlin_spring_forward_hours_are_elapsed_and_days_are_calendar_days() {
    // Clocks go from 02:00 CET to 03:00 CEST on Sunday 2026-03-29 (01:00Z). The window starts
    // on Friday 2026-03-27 at 17:00 CET (16:00Z).
    let hours = [weekend("63h", "Europe/Berlin")];
    assert_eq!(
        until(&hours, "2026-03-28T12:00:00Z").as_deref(),
        // 63 hours later: Monday 07:00Z, which is 09:00 CEST on the wall.
        Some("2026-03-30T07:00:00Z")
    );
    let days = [weekend("2d15h", "Europe/Berlin")];
    assert_eq!(
        until(&days, "2026-03-28T12:00:00Z").as_deref(),
        // Two calendar days (Sunday 17:00 CEST, 15:00Z), then 15 hours: 08:00 CEST.
        Some("2026-03-30T06:00:00Z")
    );
    // The Friday after, the window starts at 17:00 CEST (15:00Z).
    assert_eq!(until(&days, "2026-04-03T14:30:00Z"), None);
    assert!(until(&days, "2026-04-03T15:00:00Z").is_some());
}

#[test]
fn berlin_fall_back_hours_are_elapsed_and_days_are_calendar_days() {
    // Clocks go from 03:00 CEST back to 02:00 CET on Sunday 2026-10-25 (01:00Z). The window
    // starts on Friday 2026-10-23 at 17:00 CEST (15:00Z).
    let hours = [weekend("63h", "Europe/Berlin")];
    assert_eq!(
        until(&hours, "2026-10-24T12:00:00Z").as_deref(),
        // 63 hours later: Monday 06:00Z, 07:00 CET on the wall.
        Some("2026-10-26T06:00:00Z")
    );
    let days = [weekend("2d15h", "Europe/Berlin")];
    assert_eq!(
        until(&days, "2026-10-24T12:00:00Z").as_deref(),
        // Sunday 17:00 CET (16:00Z) plus 15 hours: Monday 08:00 CET.
        Some("2026-10-26T07:00:00Z")
    );
    // The Friday after, 17:00 CET is 16:00Z.
    assert_eq!(until(&days, "2026-10-30T15:30:00Z"), None);
    assert!(until(&days, "2026-10-30T16:00:00Z").is_some());
}

#[test]
fn new_york_a_start_the_clock_skips_begins_as_much_later() {
    // On 2026-03-08 clocks go from 02:00 EST to 03:00 EDT (07:00Z): 02:30 never happens, and
    // the nightly window starts at 03:30 EDT (07:30Z) instead.
    let nightly = [
        FreezeWindow::recurring("30 2 * * *", "1h", Some("America/New_York"), "backup").unwrap(),
    ];
    // The night before, 02:30 EST is 07:30Z.
    assert_eq!(
        until(&nightly, "2026-03-07T07:45:00Z").as_deref(),
        Some("2026-03-07T08:30:00Z")
    );
    assert_eq!(until(&nightly, "2026-03-08T07:15:00Z"), None);
    assert_eq!(
        until(&nightly, "2026-03-08T07:30:00Z").as_deref(),
        Some("2026-03-08T08:30:00Z")
    );
    // The night after, 02:30 EDT is 06:30Z.
    assert_eq!(
        until(&nightly, "2026-03-09T06:30:00Z").as_deref(),
        Some("2026-03-09T07:30:00Z")
    );
}

#[test]
fn new_york_a_start_the_clock_passes_twice_begins_at_the_first_pass() {
    // On 2026-11-01 clocks go from 02:00 EDT back to 01:00 EST (06:00Z): 01:30 happens at
    // 05:30Z (EDT) and again at 06:30Z (EST). The window starts once, at the first.
    let nightly =
        [
            FreezeWindow::recurring("30 1 * * *", "30m", Some("America/New_York"), "backup")
                .unwrap(),
        ];
    assert_eq!(until(&nightly, "2026-11-01T05:29:00Z"), None);
    assert_eq!(
        until(&nightly, "2026-11-01T05:45:00Z").as_deref(),
        Some("2026-11-01T06:00:00Z")
    );
    assert_eq!(until(&nightly, "2026-11-01T06:40:00Z"), None);
    // A weekend window across the same night: Friday 2026-10-30 17:00 EDT is 21:00Z; two
    // calendar days end on Sunday 17:00 EST (22:00Z), 25 hours of the clock later than 48.
    let days = [weekend("2d", "America/New_York")];
    assert_eq!(
        until(&days, "2026-10-31T12:00:00Z").as_deref(),
        Some("2026-11-01T22:00:00Z")
    );
    let hours = [weekend("48h", "America/New_York")];
    assert_eq!(
        until(&hours, "2026-10-31T12:00:00Z").as_deref(),
        Some("2026-11-01T21:00:00Z")
    );
}

#[test]
fn windows_that_follow_on_from_each_other_freeze_until_the_last_ends() {
    // The holidays end on Monday 2027-01-04 at 00:00Z, inside the weekend window that began on
    // Friday 2027-01-01 at 17:00 CET (16:00Z) and ends on Monday at 08:00 CET (07:00Z).
    let windows = [
        FreezeWindow::fixed("2026-12-20T00:00:00Z", "2027-01-04T00:00:00Z", "holidays").unwrap(),
        weekend("63h", "Europe/Berlin"),
    ];
    let frozen = frozen_at(&windows, t("2026-12-21T10:00:00Z")).unwrap();
    assert_eq!(frozen.until_rfc3339(), "2027-01-04T07:00:00Z");
    assert_eq!(frozen.reason, "holidays");
    let both = frozen_at(&windows, t("2027-01-02T10:00:00Z")).unwrap();
    assert_eq!(both.reason, "holidays; weekend");
    assert_eq!(until(&windows, "2027-01-04T07:00:00Z"), None);
}

#[test]
fn a_schedule_frozen_without_end_still_answers_a_later_time() {
    let always = [FreezeWindow::recurring("* * * * *", "2m", None, "always").unwrap()];
    let frozen = frozen_at(&always, t("2026-12-04T16:00:30Z")).unwrap();
    assert!(frozen.until > t("2026-12-04T18:00:00Z"), "{frozen:?}");
}

#[test]
fn bad_windows_name_the_key_and_the_value() {
    let fixed = |from, to| FreezeWindow::fixed(from, to, "x").unwrap_err().to_string();
    assert!(
        fixed("2026-12-20", "2027-01-04T00:00:00Z")
            .starts_with("`from` is `2026-12-20`, which is not an instant"),
        "{}",
        fixed("2026-12-20", "2027-01-04T00:00:00Z")
    );
    assert!(fixed("2026-12-20T00:00:00Z", "2026-12-20T00:00:00Z").contains("is not after"));
    let recurring = |cron, duration, zone| {
        FreezeWindow::recurring(cron, duration, zone, "x")
            .unwrap_err()
            .to_string()
    };
    assert!(recurring("0 17 * *", "1h", None).starts_with("`cron` is `0 17 * *`"));
    assert!(recurring("0 17 * * *", "2mo", None).contains("months have no fixed length"));
    assert!(recurring("0 17 * * *", "0h", None).starts_with("`duration` is `0h`"));
    let zone = recurring("0 17 * * *", "1h", Some("Europe/Berlim\n"));
    assert!(
        zone.starts_with("`timezone` is `Europe/Berlim\\n`, which is not a time zone"),
        "{zone}"
    );
    assert!(
        FreezeWindow::fixed("2026-12-20T00:00:00Z", "2027-01-04T00:00:00Z", "a\nb")
            .unwrap_err()
            .to_string()
            .starts_with("`reason` is `a\\nb`")
    );
    assert!(FreezeWindow::recurring("0 17 * * *", "1h", None, " ").is_err());
}

#[test]
fn a_recurring_window_longer_than_a_year_is_refused_and_never_reaches_the_window_maths() {
    // These panicked in jiff's day arithmetic (out of its range) at the first look at the
    // wave, which in the service killed the writer.
    for duration in ["7304484d", "175307616h", "60w", "367d", "366d1h"] {
        let error = FreezeWindow::recurring("* * * * *", duration, None, "x")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("lasts at most 366 days"),
            "{duration}: {error}"
        );
    }
    let year = [FreezeWindow::recurring("0 0 1 1 *", "366d", None, "a year").unwrap()];
    assert!(frozen_at(&year, t("2027-06-01T00:00:00Z")).is_some());
}

#[test]
fn a_schedule_firing_every_few_minutes_holds_exactly_in_its_windows_near_and_away_from_a_clock_change()
 {
    // Every 7 minutes (at :00, :07, ... :56 of each hour) for 3 minutes, in a zone whose clocks
    // fall back on 2026-10-25 at 03:00 CEST (01:00Z): away from the change, the latest start is
    // found in one step; near it, every start of the repeated hour is compared.
    let window =
        [FreezeWindow::recurring("*/7 * * * *", "3m", Some("Europe/Berlin"), "short").unwrap()];
    for day in ["2026-06-10", "2026-10-25"] {
        for hour in 0..4 {
            for minute in 0..60 {
                let at = format!("{day}T{hour:02}:{minute:02}:30Z");
                let wall = t(&at);
                let local = Timestamp::try_from(wall)
                    .unwrap()
                    .to_zoned_datetime(TimeZoneDatabase::bundled().get("Europe/Berlin").unwrap());
                // The repeated hour's second pass (02:xx CET): its minutes' starts are their
                // first pass, an hour earlier, so nothing of it is frozen.
                let second_pass = local.hour() == 2 && local.offset().seconds() == 3_600;
                let expected = local.minute() % 7 < 3 && !second_pass;
                let frozen = frozen_at(&window, wall);
                assert_eq!(
                    frozen.is_some(),
                    expected,
                    "{at} (local {local}): {frozen:?}"
                );
            }
        }
    }
}

#[test]
fn thirty_two_windows_firing_every_minute_are_answered_and_chained() {
    let windows: Vec<FreezeWindow> = (0..32)
        .map(|i| {
            FreezeWindow::recurring(
                "* * * * *",
                "2m",
                Some("America/New_York"),
                &format!("w{i}"),
            )
            .unwrap()
        })
        .collect();
    // Frozen without end: reported as frozen until the last of the chained windows.
    let frozen = frozen_at(&windows, t("2026-11-01T05:30:00Z")).unwrap();
    assert!(
        frozen.until > t("2026-11-01T05:31:00Z"),
        "{}",
        frozen.until_rfc3339()
    );
    assert!(frozen.reason.starts_with("w0; w1"), "{}", frozen.reason);
}
