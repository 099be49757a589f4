//! Dokploy's build queue: one in-memory FIFO for the server (`server/queues/in-memory-queue.ts`)
//! running up to `builds` jobs at once (`buildsConcurrency`, default 1), the oldest first
//! across all applications, never two of one application at once (a job whose application is
//! building waits, and younger jobs of other applications pass it, as `drainPartition` does).
//!
//! A job has no row while it waits. When it starts, the worker sets its application `running`
//! and, if the application row still exists, creates its `running` row (`createDeployment`);
//! a job whose application row is gone fails there, with no row (`findApplicationById` throws
//! first), and frees its slot at once. A build is over when its row has been shown `running`
//! by `deploy_polls` polls of `deployment.all` (a build whose row is gone cannot be seen, so
//! only time counts for it) and `build_duration` has passed on the clock. Dokploy's builds run
//! on their own, so a build must never wait for its own application to be polled for ever:
//! one nobody watches (its deployment's run waits in the portal's admission queue) also ends
//! after [`UNWATCHED_POLLS`] times `deploy_polls` polls of other applications. Then its row takes
//! its outcome: `done` (which creates or updates the application's Swarm service, even when
//! the row is gone: `mechanizeDockerContainer`), `error` (forced, or "Docker image not found"
//! for an application without an image), or a forced `cancelled`; and the next jobs start in
//! the same step.
//!
//! The world advances only when `advance` is called (at every call, health poll and state
//! read), from the clock: it never runs by itself and never sleeps. `restart` is Dokploy's
//! restart: the queue is lost, running rows become `cancelled` with no `finishedAt` and their
//! applications `idle` (`utils/startup/cancel-deployments.ts`); services and routes stay.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::World;

/// How many times `deploy_polls` polls of other applications end a build whose own row nobody
/// polls.
pub(super) const UNWATCHED_POLLS: u32 = 8;

/// A deploy that waits for a build slot.
#[derive(Debug, Clone)]
pub(super) struct Job {
    pub(super) application_id: String,
    pub(super) title: String,
    /// The final status a fault forces on it.
    pub(super) forced: Option<String>,
}

/// A job that started: its row exists (or existed) and it holds a build slot.
#[derive(Debug, Clone)]
pub(super) struct Build {
    pub(super) deployment_id: String,
    pub(super) application_id: String,
    pub(super) app_name: String,
    pub(super) image: Option<String>,
    pub(super) started_ms: i64,
    /// Polls of `deployment.all` that showed its row `running`.
    pub(super) polls: u32,
    /// Polls of `deployment.all` of other applications while it ran.
    pub(super) others_polled: u32,
    /// The status its row ends with.
    pub(super) outcome: String,
}

/// The waiting jobs, oldest first, and the running builds.
#[derive(Debug, Default)]
pub(super) struct BuildQueue {
    next: u64,
    waiting: BTreeMap<u64, Job>,
    waiting_by_app: HashMap<String, BTreeSet<u64>>,
    running: Vec<Build>,
}

impl BuildQueue {
    /// Adds a job after every waiting one.
    pub(super) fn push(&mut self, job: Job) {
        let position = self.next;
        self.next += 1;
        let positions = self.waiting_by_app.entry(job.application_id.clone());
        positions.or_default().insert(position);
        self.waiting.insert(position, job);
    }

    /// The waiting jobs, oldest first.
    pub(super) fn waiting(&self) -> impl Iterator<Item = &Job> {
        self.waiting.values()
    }

    /// Drops the application's waiting jobs (Dokploy's `cleanQueuesByApplication`); its
    /// running build, if any, goes on.
    pub(super) fn drop_waiting_of(&mut self, application_id: &str) {
        for position in self
            .waiting_by_app
            .remove(application_id)
            .unwrap_or_default()
        {
            self.waiting.remove(&position);
        }
    }

    /// Counts one poll of the application's `deployment.all` for its running build.
    pub(super) fn count_poll(&mut self, application_id: &str) {
        for build in self.running.iter_mut() {
            if build.application_id == application_id {
                build.polls += 1;
            } else {
                build.others_polled += 1;
            }
        }
    }

    /// Takes the oldest waiting job whose application is not building.
    fn take_startable(&mut self) -> Option<Job> {
        let running = &self.running;
        let position = self.waiting.iter().find_map(|(position, job)| {
            let building = running
                .iter()
                .any(|build| build.application_id == job.application_id);
            (!building).then_some(*position)
        })?;
        let job = self.waiting.remove(&position)?;
        if let Some(positions) = self.waiting_by_app.get_mut(&job.application_id) {
            positions.remove(&position);
            if positions.is_empty() {
                self.waiting_by_app.remove(&job.application_id);
            }
        }
        Some(job)
    }

    /// Drops every waiting job and gives up the running builds.
    fn clear(&mut self) -> Vec<Build> {
        self.waiting.clear();
        self.waiting_by_app.clear();
        std::mem::take(&mut self.running)
    }
}

impl World {
    /// Finishes every build that is over, then starts waiting jobs while slots are free.
    pub(super) fn advance(&mut self) {
        let now_ms = self.builds.clock.now_ms();
        let running = std::mem::take(&mut self.queue.running);
        let (over, still): (Vec<Build>, Vec<Build>) = running
            .into_iter()
            .partition(|build| self.is_over(build, now_ms));
        self.queue.running = still;
        for build in over {
            self.finish(build);
        }
        while self.queue.running.len() < self.builds.slots {
            let Some(job) = self.queue.take_startable() else {
                break;
            };
            self.start(job, now_ms);
        }
    }

    /// Dokploy restarts: waiting jobs are lost, and every running row is cancelled.
    pub(in crate::simulator) fn restart(&mut self) {
        for build in self.queue.clear() {
            let Some(row) = self.deployments.get_mut(&build.deployment_id) else {
                continue;
            };
            if row.status == "running" {
                row.status = "cancelled".to_owned();
                row.finished_at = None;
                self.set_application_status(&build.application_id, "idle");
            }
        }
    }

    fn is_over(&self, build: &Build, now_ms: i64) -> bool {
        let elapsed = u128::try_from(now_ms.saturating_sub(build.started_ms)).unwrap_or(0);
        let polls = self.builds.deploy_polls;
        let seen = build.polls >= polls
            || build.others_polled >= polls.saturating_mul(UNWATCHED_POLLS)
            || !self.deployments.contains(&build.deployment_id);
        seen && elapsed >= self.builds.duration.as_millis()
    }

    /// The worker takes a job: the application turns `running`, then its row is created and
    /// its build runs; without an application row the job fails before any row exists.
    fn start(&mut self, job: Job, now_ms: i64) {
        let Some(application) = self.applications.get(&job.application_id) else {
            return;
        };
        let app_name = application.app_name.clone();
        let image = application
            .docker_image
            .clone()
            .filter(|image| !image.is_empty());
        self.set_application_status(&job.application_id, "running");
        let deployment_id = self.create_row(&job.application_id, &app_name, job.title);
        let outcome = match (job.forced, &image) {
            (Some(forced), _) if forced != "done" => forced,
            // `buildRemoteDocker` throws "Docker image not found" (written to the row's log).
            (_, None) => "error".to_owned(),
            (_, Some(_)) => "done".to_owned(),
        };
        self.queue.running.push(Build {
            deployment_id,
            application_id: job.application_id,
            app_name,
            image,
            started_ms: now_ms,
            polls: 0,
            others_polled: 0,
            outcome,
        });
    }

    /// The build's row takes its outcome (`finishedAt` only for `done` and `error`, as
    /// `updateDeploymentStatus` does), its application the matching status, and a `done`
    /// build's service runs its image.
    fn finish(&mut self, build: Build) {
        let stamped = matches!(build.outcome.as_str(), "done" | "error");
        let finished_at = stamped.then(|| self.now());
        if let Some(row) = self.deployments.get_mut(&build.deployment_id) {
            row.status.clone_from(&build.outcome);
            row.finished_at = finished_at;
        }
        let application_status = match build.outcome.as_str() {
            "done" => "done",
            "cancelled" => "idle",
            _ => "error",
        };
        self.set_application_status(&build.application_id, application_status);
        if build.outcome == "done" {
            self.run_service(&build);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::super::given::{Given, text};
    use crate::deployment::Procedure;

    fn row(title: &str, status: &str) -> (String, String) {
        (title.to_owned(), status.to_owned())
    }

    #[test]
    fn a_second_apps_row_appears_only_after_the_first_apps_row_is_final_with_one_build() {
        let mut given = Given::new(1, 1, Duration::ZERO);
        let a = given.stack("alpha");
        let b = given.stack("beta");
        given.deploy(&a.application_id, "a1");
        given.deploy(&b.application_id, "b1");
        assert_eq!(given.rows(&b.application_id), vec![], "queued: no row");
        assert_eq!(given.queued(), vec!["b1"]);
        assert_eq!(
            given.app_status(&b.application_id),
            "idle",
            "queued: no status"
        );
        assert_eq!(given.rows(&a.application_id), vec![row("a1", "running")]);
        assert_eq!(given.rows(&a.application_id), vec![row("a1", "done")]);
        assert_eq!(given.app_status(&b.application_id), "running");
        assert_eq!(given.queued(), Vec::<String>::new());
        assert_eq!(given.rows(&b.application_id), vec![row("b1", "running")]);
    }

    #[test]
    fn jobs_start_oldest_first_across_apps_with_two_builds() {
        let mut given = Given::new(2, 1, Duration::ZERO);
        let a = given.stack("alpha");
        let b = given.stack("beta");
        let c = given.stack("gamma");
        given.deploy(&c.application_id, "c1");
        given.deploy(&a.application_id, "a1");
        given.deploy(&b.application_id, "b1");
        assert_eq!(
            given.rows(&b.application_id),
            vec![],
            "both slots are taken"
        );
        assert_eq!(given.queued(), vec!["b1"]);
        assert_eq!(given.app_status(&c.application_id), "running");
        assert_eq!(given.app_status(&a.application_id), "running");
        // The poll that shows c1 running is its last: c1 ends and frees its slot.
        assert_eq!(given.rows(&c.application_id), vec![row("c1", "running")]);
        assert_eq!(given.rows(&b.application_id), vec![row("b1", "running")]);
        assert_eq!(
            given.app_status(&a.application_id),
            "running",
            "a1 was never polled"
        );
        assert_eq!(given.rows(&a.application_id), vec![row("a1", "running")]);
        assert_eq!(given.rows(&a.application_id), vec![row("a1", "done")]);
        assert_eq!(given.rows(&c.application_id), vec![row("c1", "done")]);
    }

    #[test]
    fn a_younger_job_of_another_app_passes_a_job_whose_app_is_building() {
        let mut given = Given::new(2, 1, Duration::ZERO);
        let a = given.stack("alpha");
        let b = given.stack("beta");
        given.deploy(&a.application_id, "a1");
        given.deploy(&a.application_id, "a2");
        given.deploy(&b.application_id, "b1");
        assert_eq!(given.queued(), vec!["a2"], "one build per app at a time");
        assert_eq!(given.rows(&b.application_id), vec![row("b1", "running")]);
        assert_eq!(given.rows(&a.application_id), vec![row("a1", "running")]);
        let rows = given.rows(&a.application_id);
        assert_eq!(rows, vec![row("a2", "running"), row("a1", "done")]);
    }

    #[test]
    fn a_build_nobody_polls_still_ends_while_other_applications_are_polled() {
        let mut given = Given::new(1, 2, Duration::ZERO);
        let a = given.stack("alpha");
        let b = given.stack("beta");
        given.deploy(&a.application_id, "a1");
        given.deploy(&b.application_id, "b1");
        let unwatched = 2 * super::UNWATCHED_POLLS;
        for _ in 1..unwatched {
            assert_eq!(given.rows(&b.application_id), vec![], "b1 waits for a1");
        }
        given.rows(&b.application_id);
        assert_eq!(
            given.rows(&b.application_id),
            vec![row("b1", "running")],
            "a1 ended unwatched and b1 took the slot"
        );
        assert_eq!(given.rows(&a.application_id), vec![row("a1", "done")]);
    }

    #[test]
    fn a_build_ends_only_after_its_duration_on_the_clock_and_its_polls() {
        let mut given = Given::new(1, 2, Duration::from_secs(30));
        let a = given.stack("alpha");
        given.deploy(&a.application_id, "a1");
        for _ in 0..4 {
            assert_eq!(given.rows(&a.application_id), vec![row("a1", "running")]);
        }
        given.wait(Duration::from_secs(29));
        assert_eq!(given.rows(&a.application_id), vec![row("a1", "running")]);
        given.wait(Duration::from_secs(1));
        assert_eq!(given.rows(&a.application_id), vec![row("a1", "done")]);
    }

    #[test]
    fn a_row_stays_running_for_its_deploy_polls_however_long_the_build_took() {
        let mut given = Given::new(1, 3, Duration::ZERO);
        let a = given.stack("alpha");
        given.deploy(&a.application_id, "a1");
        given.wait(Duration::from_secs(3600));
        for _ in 0..3 {
            assert_eq!(given.rows(&a.application_id), vec![row("a1", "running")]);
        }
        assert_eq!(given.rows(&a.application_id), vec![row("a1", "done")]);
        let state = given.state();
        let finished = &state["deployments"][0]["finishedAt"];
        assert!(finished.is_string(), "done stamps finishedAt: {finished}");
        assert_eq!(given.app_status(&a.application_id), "done");
    }

    #[test]
    fn an_app_without_an_image_ends_in_error_and_runs_no_service() {
        let mut given = Given::new(1, 1, Duration::ZERO);
        let a = given.bare_app("alpha");
        given.deploy(&a.application_id, "a1");
        assert_eq!(given.until_final(&a.application_id), "error");
        assert_eq!(given.app_status(&a.application_id), "error");
        let state = given.state();
        assert!(state["deployments"][0]["finishedAt"].is_string());
        assert_eq!(state["services"], json!([]));
    }

    #[test]
    fn a_forced_cancelled_outcome_keeps_finished_at_null_and_the_app_idle() {
        let mut given = Given::new(1, 1, Duration::ZERO);
        let a = given.stack("alpha");
        let input = json!({"applicationId": a.application_id, "title": "a1"});
        let input = input.as_object().expect("an object").clone();
        let forced = || Some("cancelled".to_owned());
        let queued = given
            .world
            .call(Procedure::ApplicationDeploy, &input, forced);
        assert!(queued.is_ok());
        assert_eq!(given.until_final(&a.application_id), "cancelled");
        let state = given.state();
        assert_eq!(state["deployments"][0]["finishedAt"], json!(null));
        assert_eq!(given.app_status(&a.application_id), "idle");
        assert_eq!(state["services"], json!([]));
    }

    #[test]
    fn twelve_deploys_of_one_app_leave_at_most_eleven_rows() {
        let mut given = Given::new(1, 1, Duration::ZERO);
        let a = given.stack("alpha");
        for n in 1..=12 {
            given.deploy(&a.application_id, &format!("d{n}"));
            assert_eq!(given.until_final(&a.application_id), "done");
        }
        let titles: Vec<String> = given
            .rows(&a.application_id)
            .into_iter()
            .map(|(title, _)| title)
            .collect();
        let expected: Vec<String> = (2..=12).rev().map(|n| format!("d{n}")).collect();
        assert_eq!(titles, expected, "newest first, the oldest pruned");
    }

    #[test]
    fn a_restart_cancels_running_rows_drops_waiting_jobs_and_keeps_what_runs() {
        let mut given = Given::new(1, 1, Duration::ZERO);
        let a = given.stack("alpha");
        let b = given.stack("beta");
        given.deploy(&a.application_id, "a1");
        assert_eq!(given.until_final(&a.application_id), "done");
        given.deploy(&a.application_id, "a2");
        given.deploy(&b.application_id, "b1");
        given.world.restart();
        let rows = given.rows(&a.application_id);
        assert_eq!(rows, vec![row("a2", "cancelled"), row("a1", "done")]);
        let state = given.state();
        let newest = state["deployments"]
            .as_array()
            .and_then(|rows| rows.iter().find(|row| row["title"] == "a2"))
            .expect("a2's row");
        assert_eq!(newest["finishedAt"], json!(null));
        assert_eq!(given.app_status(&a.application_id), "idle");
        assert_eq!(given.queued(), Vec::<String>::new());
        for _ in 0..3 {
            assert_eq!(
                given.rows(&b.application_id),
                vec![],
                "a lost job never gets a row"
            );
        }
        let services = given.state()["services"].clone();
        assert_eq!(text(&services[0]["appName"]), a.app_name);
        assert_eq!(given.health("alpha"), super::super::Health::Up);
    }
}
