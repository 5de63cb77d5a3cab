/**
 * Mocha's spec reporter plus one closing line in the plain form CI tools read:
 * `N passed, N failed, N skipped`.
 */
import * as Mocha from "mocha";

class SummaryReporter extends Mocha.reporters.Spec {
    constructor(runner: Mocha.Runner, options?: Mocha.MochaOptions) {
        super(runner, options);
        runner.once(Mocha.Runner.constants.EVENT_RUN_END, () => {
            const { passes, failures, pending } = runner.stats ?? { passes: 0, failures: 0, pending: 0 };
            process.stdout.write(`\ntests: ${passes} passed, ${failures} failed, ${pending} skipped\n`);
        });
    }
}

export = SummaryReporter;
