#!/usr/bin/env node
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { TeamStack } from '../lib/team-stack';

const app = new App();
// The team's own cdk-nag: relearn acknowledges its reviewed findings itself, so anything left fails the synth.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
new TeamStack(app, 'TeamMl');
